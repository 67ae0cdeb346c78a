"""A refusal of the compose policy: what was refused, where, and the rule an admin can grant for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    # The exception name that lets this through ("privileged", "host_path:/srv/media", …); empty
    # when no exception can (a bind of the app's own folder, a symlink on a bind's path).
    rule: str
    message: str

    def text(self) -> str:
        return f"{self.message} ({f'rule {self.rule}' if self.rule else 'never allowed'})"


def granted(rule: str, allowed: list[str]) -> bool:
    """Whether an admin's exceptions cover `rule`: by name, or for host paths by the path granted
    (`host_path:/srv/media` covers /srv/media and everything below it)."""
    if not rule:
        return False
    if rule in allowed:
        return True
    if rule.startswith("host_path:"):
        path = rule.removeprefix("host_path:")
        for name in allowed:
            if name.startswith("host_path:"):
                root = name.removeprefix("host_path:").rstrip("/")
                if path == root or path.startswith(root + "/"):
                    return True
    return False
