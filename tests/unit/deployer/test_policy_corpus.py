"""The compose policy against its corpus (tests/policy_corpus, headers described in corpus.py).

Hostile files: refused with nothing granted, naming each rule of their `# rules:` line; accepted with
exactly those rules granted (or, marked `# granted: compose-refuses`, refused by Compose rather than
by the policy); still refused with every other rule of the corpus granted. `# rules: never` files
stay refused with every rule granted. Benign files: accepted with nothing granted.

Rules may hold the placeholders `{apps_dir}` (the folder holding the app folders: `../other` is
`host_path:{apps_dir}/other`) and `{home}` (where `~` points); both are filled in for this test's
`apps_dir` and normalized.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.deployer import compose, validation
from tests.policy_corpus import corpus

HOSTILE = corpus.load("hostile")
BENIGN = corpus.load("benign")
GRANTABLE = [f for f in HOSTILE if not f.never]
CORPUS_RULES = sorted({rule for f in GRANTABLE for rule in f.raw_rules})


def _name(case: corpus.CorpusFile) -> str:
    return case.name


@pytest.fixture
def apps_dir(tmp_path: Path) -> Path:
    folder = tmp_path.resolve() / "apps"  # the app folder itself is not made: a create's case
    folder.mkdir()
    return folder


def _check(case: corpus.CorpusFile, apps_dir: Path, allowed: list[str]) -> compose.Loaded:
    return validation.check(
        name=corpus.APP, compose_text=case.compose, env_text=case.env, allowed=allowed, apps_dir=apps_dir
    )


def _refusal(case: corpus.CorpusFile, apps_dir: Path, allowed: list[str]) -> str:
    with pytest.raises(InvalidArgument) as info:
        _check(case, apps_dir, allowed)
    return info.value.message


def _every_rule_but(case: corpus.CorpusFile, apps_dir: Path) -> list[str]:
    """Every rule of the corpus except the file's own and those covering them (host_path:/etc
    covers host_path:/etc/shadow)."""
    own = case.rules(apps_dir)
    everything = [corpus.resolve(rule, apps_dir) for rule in CORPUS_RULES]
    return [rule for rule in everything if not any(corpus.covers(rule, mine) for mine in own)]


def test_corpus_is_large_enough_and_well_formed() -> None:
    assert len(HOSTILE) >= 60 and len(BENIGN) >= 40, (len(HOSTILE), len(BENIGN))
    for case in HOSTILE:
        assert case.headers.get("attack"), f"{case.name}: no `# attack:` line"
        assert case.raw_rules, f"{case.name}: no `# rules:` line"
        assert case.never or all(corpus.is_rule(rule) for rule in case.raw_rules), case.name
        assert case.headers.get("granted", corpus.COMPOSE_REFUSES) == corpus.COMPOSE_REFUSES, case.name
    for case in BENIGN:
        assert case.headers.get("shape"), f"{case.name}: no `# shape:` line"


def test_every_rule_has_a_hostile_file() -> None:
    for rule in corpus.SIMPLE_RULES:
        assert rule in CORPUS_RULES, f"no hostile file needs {rule}"
    prefixes = {rule.split(":")[0] for rule in CORPUS_RULES if rule not in corpus.SIMPLE_RULES}
    assert {"cap_add", "key", "host_path"} <= prefixes, prefixes
    assert any(f.never for f in HOSTILE)


@pytest.mark.parametrize("case", HOSTILE, ids=_name)
def test_hostile_is_refused_naming_its_rules(case: corpus.CorpusFile, apps_dir: Path) -> None:
    message = _refusal(case, apps_dir, [])
    if not case.never:
        assert corpus.rules_named(message) == set(case.rules(apps_dir)), message


@pytest.mark.parametrize("case", GRANTABLE, ids=_name)
def test_hostile_passes_with_exactly_its_rules(case: corpus.CorpusFile, apps_dir: Path) -> None:
    allowed = case.rules(apps_dir)
    if case.compose_refuses:
        message = _refusal(case, apps_dir, allowed)
        assert "(rule " not in message, message
    else:
        result = _check(case, apps_dir, allowed)
        assert result.config.get("services")
        assert isinstance(result.warnings, list)


@pytest.mark.parametrize("case", HOSTILE, ids=_name)
def test_hostile_is_refused_with_every_other_rule(case: corpus.CorpusFile, apps_dir: Path) -> None:
    message = _refusal(case, apps_dir, _every_rule_but(case, apps_dir))
    if not case.never:
        named = corpus.rules_named(message)
        assert named and named <= set(case.rules(apps_dir)), message


@pytest.mark.parametrize("case", BENIGN, ids=_name)
def test_benign_is_accepted(case: corpus.CorpusFile, apps_dir: Path) -> None:
    result = _check(case, apps_dir, [])
    assert result.config.get("services")
