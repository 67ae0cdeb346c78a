"""A compose policy refusal, one line per refused thing.

The server says `compose policy: <what> (rule <name>); <what> (never allowed); … . An admin can allow
a rule for this app (…).`; a `<what>` may itself hold a `;`, so the items are cut after each
`(rule …)` or `(never allowed)`, not at every `;`.
"""

from __future__ import annotations

import re

PREFIX = "compose policy:"
_ITEM = re.compile(r"\s*(.+?) \((rule .+?|never allowed)\)(?:;|\.?$)")

# The rules an admin can grant for one app (services/deployer/policy/__init__.py `RULES`), for help texts.
RULES_HELP = (
    "privileged, cap_add:<CAP> (e.g. cap_add:NET_ADMIN), network_mode:host, pid:host, ipc:host, "
    "uts:host, userns_mode:host, cgroup:host, container, devices, docker_socket, "
    "host_path:<absolute path> (that path and everything below it, e.g. host_path:/srv/media; "
    "plain host_path is refused), security_opt, network_driver, volume_driver, cgroup_parent, "
    "runtime, sysctls, oom_kill_disable, logging_driver, key:<name> (a compose key AppOS does not know)"
)


def refusal_items(message: str) -> list[str] | None:
    """Each refusal with its rule (`… (rule privileged)`), or None when `message` is not a policy
    refusal. Text the pattern does not follow is kept as one more item, never dropped."""
    if not message.startswith(PREFIX):
        return None
    body = message.removeprefix(PREFIX).strip()
    body = body.split(". An admin can allow", 1)[0]
    items, end = [], 0
    while match := _ITEM.match(body, end):
        items.append(f"{match.group(1).strip()} ({match.group(2)})")
        end = match.end()
    rest = body[end:].strip()
    if rest or not items:
        items.append(rest or body)
    return items
