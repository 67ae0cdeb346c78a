"""The compose-policy corpus: hostile files the policy must refuse and benign ones it must accept,
read by tests/unit/deployer/test_policy_corpus.py and bench/policy.py.

Each file is checked for the app `corpus` (project `appos-corpus`); relative paths resolve against
`<apps_dir>/corpus`. A file opens with comment headers; a sidecar `<name>.env` is the .env sent with it.

    hostile/*.yaml   # attack: what it tries and why it would reach the host or another container
                     # rules: the exceptions that together let exactly this file through, or `never`
                     # granted: compose-refuses   (optional: with its rules granted, Compose itself
                                                   still refuses the file)
    benign/*.yaml    # shape: the real app-store shape it stands for

A `host_path:` rule may hold a placeholder, filled in for the folder the check runs in and then
normalized: `{apps_dir}` (the folder holding the app folders, so `../other` is
`host_path:{apps_dir}/other` and `../..` is `host_path:{apps_dir}/..`) and `{home}` (the home folder
of the user Compose runs as, where `~` points).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from services.deployer import policy

ROOT = Path(__file__).resolve().parent
APP = "corpus"
NEVER = "never"
COMPOSE_REFUSES = "compose-refuses"

# The exceptions an admin can grant by name: the policy's own list, so a rule added there needs a file here.
SIMPLE_RULES = frozenset(rule for rule in policy.RULES if "<" not in rule)
_PATTERN_RULES = re.compile(r"^(cap_add:[A-Z0-9_]+|key:[a-z0-9_.-]+|host_path:(/|\{apps_dir\}|\{home\})\S*)$")
_RULE_IN_MESSAGE = re.compile(r"\(rule ([^)]+)\)")
_HEADER = re.compile(r"^#\s*([a-z]+):\s*(.*?)\s*$")


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    compose: str
    env: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def raw_rules(self) -> list[str]:
        """The `# rules:` line as written (placeholders kept)."""
        return self.headers.get("rules", "").split()

    @property
    def never(self) -> bool:
        return self.raw_rules == [NEVER]

    @property
    def compose_refuses(self) -> bool:
        return self.headers.get("granted") == COMPOSE_REFUSES

    def rules(self, apps_dir: Path) -> list[str]:
        return [resolve(rule, apps_dir) for rule in self.raw_rules if rule != NEVER]


def load(kind: str) -> list[CorpusFile]:
    """The files of `hostile` or `benign`, by name."""
    out = []
    for path in sorted((ROOT / kind).glob("*.yaml")):
        text = path.read_text()
        env = path.with_suffix(".env")
        headers = {}
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            match = _HEADER.match(line)
            if match:
                headers[match.group(1)] = match.group(2)
        out.append(CorpusFile(path, text, env.read_text() if env.exists() else "", headers))
    return out


def is_rule(raw: str) -> bool:
    return raw in SIMPLE_RULES or bool(_PATTERN_RULES.match(raw))


def resolve(rule: str, apps_dir: Path) -> str:
    """A rule as the policy names it for this `apps_dir`: placeholders filled in, the path normalized."""
    filled = rule.replace("{apps_dir}", str(apps_dir)).replace("{home}", os.path.expanduser("~"))
    return normalize(filled)


def normalize(rule: str) -> str:
    if not rule.startswith("host_path:"):
        return rule
    return "host_path:" + os.path.normpath(rule.removeprefix("host_path:"))


def family(rule: str) -> str:
    """`host_path:/etc` → `host_path`; every other rule is its own family."""
    return "host_path" if rule.startswith("host_path:") else rule


def covers(granted: str, rule: str) -> bool:
    """Whether granting `granted` lets `rule` through (a host path covers the paths below it)."""
    return policy.granted(rule, [granted])


def rules_named(message: str) -> set[str]:
    """The rules a refusal names, each as `(rule <name>)`, host paths normalized."""
    return {normalize(rule.strip()) for rule in _RULE_IN_MESSAGE.findall(message)}
