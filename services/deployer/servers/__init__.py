"""More servers (issue 21): remote Docker engines reached over SSH, no agent of AppOS's on them.

address.py   `ssh://user@host:port`, checked by an allow-list grammar
ssh.py       the ssh/ssh-keyscan/ssh-keygen command lines (argument lists, pinned host keys only)
keys.py      AppOS's own SSH key (made once, the private half never leaves $APPOS_DATA/secrets)
tunnel.py    one long-lived SSH connection per server forwarding its Docker socket to a local
             Unix socket, re-established with backoff, and probed
manager.py   add (checks first, nothing saved on failure), list, re-pin, remove; the tunnels
servicer.py  the Servers gRPC service
"""
