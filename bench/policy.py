"""The compose policy against its corpus (tests/policy_corpus): how many hostile files are refused
with nothing granted, how many benign files are accepted, and per rule how many files need it, how
many refusals name it and how many of those files pass once it (with the file's other rules) is
granted. `never` files count as refused only when they stay refused with every rule granted.

Checks run for the app `corpus` in a temporary apps folder, through `validation.check` (the checks of
a create, Compose included).

Run: .venv/bin/python bench/policy.py
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.errors import InvalidArgument  # noqa: E402
from services.deployer import validation  # noqa: E402
from tests.policy_corpus import corpus  # noqa: E402


def refusal(case: corpus.CorpusFile, apps_dir: Path, allowed: list[str]) -> str | None:
    """The refusal's message, or None when the file is accepted."""
    try:
        validation.check(
            name=corpus.APP, compose_text=case.compose, env_text=case.env, allowed=allowed, apps_dir=apps_dir
        )
    except InvalidArgument as exc:
        return exc.message
    return None


def passes_granted(case: corpus.CorpusFile, apps_dir: Path) -> bool:
    message = refusal(case, apps_dir, case.rules(apps_dir))
    if case.compose_refuses:
        return message is not None and "(rule " not in message
    return message is None


def main() -> None:
    hostile, benign = corpus.load("hostile"), corpus.load("benign")
    every_rule = sorted({rule for case in hostile for rule in case.raw_rules if rule != corpus.NEVER})
    files: Counter[str] = Counter()
    named: Counter[str] = Counter()
    granted: Counter[str] = Counter()
    refused = accepted = 0
    with tempfile.TemporaryDirectory(prefix="appos-bench-policy-") as tmp:
        apps_dir = Path(tmp).resolve() / "apps"
        apps_dir.mkdir()
        for case in hostile:
            if case.never:
                message = refusal(case, apps_dir, [corpus.resolve(r, apps_dir) for r in every_rule])
                refused += message is not None
                files[corpus.NEVER] += 1
                named[corpus.NEVER] += message is not None
                continue
            message = refusal(case, apps_dir, [])
            refused += message is not None
            found = corpus.rules_named(message or "")
            passes = passes_granted(case, apps_dir)
            for raw, rule in zip(case.raw_rules, case.rules(apps_dir), strict=True):
                files[corpus.family(raw)] += 1
                named[corpus.family(raw)] += rule in found
                granted[corpus.family(raw)] += passes
        for case in benign:
            accepted += refusal(case, apps_dir, []) is None
    print(f"hostile files refused with nothing granted: {refused}/{len(hostile)}")
    print(f"benign files accepted: {accepted}/{len(benign)}")
    print(f"{'rule':<24} {'files':>5} {'named':>5} {'passes when granted':>20}")
    for rule in sorted(files):
        shown = "-" if rule == corpus.NEVER else str(granted[rule])
        print(f"{rule:<24} {files[rule]:>5} {named[rule]:>5} {shown:>20}")


if __name__ == "__main__":
    main()
