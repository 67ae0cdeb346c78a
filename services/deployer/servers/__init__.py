"""More servers (issue 21): remote Docker engines reached over SSH or over Docker's TLS port with a
client certificate, no agent of AppOS's on them.

address.py   `ssh://user@host:port` or `tcp://host:port`, checked by an allow-list grammar
ssh.py       the ssh/ssh-keyscan/ssh-keygen command lines (argument lists, pinned host keys only)
keys.py      AppOS's own SSH key (made once, the private half never leaves $APPOS_DATA/secrets)
tunnel.py    one long-lived SSH connection per server forwarding its Docker socket to a local
             Unix socket, re-established with backoff, and probed
certs.py     a tcp:// server's CA, client certificate and key: checked, stored 0600
tls.py       the TLS client context, one checked handshake, what a failure means
tlslink.py   a tcp:// server's engine at the same local socket: each connection forwarded over TLS,
             the pinned certificate required, probed like a tunnel
apicopy.py   an app's folder to a tcp:// server through the Docker API (a helper container)
manager.py   add (checks first, nothing saved on failure), list, re-pin, remove; the links
servicer.py  the Servers gRPC service
"""
