"""Two-factor authentication: TOTP codes (RFC 6238) checked against a real SQLite state, each code and
each recovery code accepted once, and nothing secret in the events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from services.common import totp
from services.common.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from services.state import events, users
from services.state import totp as state_totp
from services.state.db import make_engine, migrate
from services.state.store import Store

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
# RFC 6238 appendix B's SHA-1 seed ("12345678901234567890"), base32
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def wrong_code(secret: str) -> str:
    """A code of no step near now."""
    now = totp.current_step()
    near = {code_at(secret, step) for step in range(now - 3, now + 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_codes_match_rfc_6238_and_only_within_one_step_of_now() -> None:
    # RFC 6238 B: T=59 → 94287082 (8 digits); the 6-digit code is its last six
    assert code_at(RFC_SECRET, 1) == "287082"
    assert totp.matching_step(RFC_SECRET, "287082", after_step=0, now=59) == 1
    assert totp.matching_step(RFC_SECRET, "287 082", after_step=0, now=59) == 1  # as people type it
    assert totp.matching_step(RFC_SECRET, "287082", after_step=0, now=59 + 30) == 1  # one step late
    assert totp.matching_step(RFC_SECRET, "287082", after_step=0, now=59 + 60) is None  # two: too old
    assert totp.matching_step(RFC_SECRET, "287082", after_step=1, now=59) is None  # used already
    assert totp.matching_step(RFC_SECRET, "287083", after_step=0, now=59) is None
    assert totp.matching_step(RFC_SECRET, "28708", after_step=0, now=59) is None


def test_secret_uri_and_recovery_codes() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice")
    assert (
        uri.startswith("otpauth://totp/AppOS:alice?") and f"secret={secret}" in uri and "issuer=AppOS" in uri
    )
    codes = totp.new_recovery_codes()
    assert len(codes) == len(set(codes)) == totp.RECOVERY_CODES
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert totp.hash_recovery_code(codes[0].upper().replace("-", " ")) == totp.hash_recovery_code(codes[0])


def _enable(store: Store, name: str) -> tuple[str, list[str], int]:
    """A user with 2FA on: (secret, recovery codes, the step its setup used)."""
    with store.write() as s:
        users.create_user(session=s, username=name, password_hash=HASH, role="viewer", actor="test")
    secret = totp.new_secret()
    with store.write() as s:
        state_totp.begin(session=s, username=name, secret=secret)
    codes = totp.new_recovery_codes()
    step = totp.current_step()
    with store.write() as s:
        user = state_totp.confirm(
            session=s,
            username=name,
            code=code_at(secret, step),
            recovery_hashes=[totp.hash_recovery_code(c) for c in codes],
            actor=name,
        )
        assert user.to_pb().totp_enabled
    return secret, codes, step


def _verify(store: Store, name: str, code: str = "", recovery: str = "") -> tuple[bool, str, int]:
    with store.write() as s:
        return state_totp.verify(
            session=s,
            username=name,
            totp_code=code,
            recovery_hash=totp.hash_recovery_code(recovery) if recovery else "",
        )


def test_a_code_works_once_and_never_an_older_one_after_it(store: Store) -> None:
    secret, _, step = _enable(store, "alice")
    with pytest.raises(Unauthenticated):  # the setup's own code is used up
        _verify(store, "alice", code_at(secret, step))
    assert _verify(store, "alice", code_at(secret, step + 1)) == (True, "totp", 10)
    with pytest.raises(Unauthenticated, match="already used"):
        _verify(store, "alice", code_at(secret, step + 1))  # replayed
    with pytest.raises(Unauthenticated):
        _verify(store, "alice", code_at(secret, step - 1))  # older than the last one
    with pytest.raises(Unauthenticated):
        _verify(store, "alice", wrong_code(secret))


def test_a_recovery_code_works_once(store: Store) -> None:
    _, codes, _ = _enable(store, "bob")
    assert _verify(store, "bob", recovery=codes[3].upper()) == (True, "recovery_code", 9)
    with pytest.raises(Unauthenticated, match="recovery code is wrong or already used"):
        _verify(store, "bob", recovery=codes[3])
    with pytest.raises(Unauthenticated):
        _verify(store, "bob", recovery="aaaaa-bbbbb")
    assert _verify(store, "bob") == (True, "", 9)  # nothing sent: only says 2FA is on


def test_setup_needs_a_right_code_and_disable_forgets_everything(store: Store) -> None:
    with store.write() as s:
        users.create_user(session=s, username="carol", password_hash=HASH, role="viewer", actor="test")
    assert _verify(store, "carol", "123456") == (False, "", 0)  # no 2FA: nothing is checked
    with pytest.raises(FailedPrecondition, match="begin it first"), store.write() as s:
        state_totp.confirm(session=s, username="carol", code="123456", recovery_hashes=["a" * 64], actor="t")
    secret = totp.new_secret()
    with store.write() as s:
        state_totp.begin(session=s, username="carol", secret=secret)
    with pytest.raises(InvalidArgument, match="wrong"), store.write() as s:
        state_totp.confirm(
            session=s, username="carol", code=wrong_code(secret), recovery_hashes=["a" * 64], actor="t"
        )
    with store.read() as s:
        assert not users.get_user(session=s, username="carol").totp_enabled
    right = code_at(secret, totp.current_step())
    with store.write() as s:
        state_totp.confirm(session=s, username="carol", code=right, recovery_hashes=["a" * 64], actor="t")
    with pytest.raises(FailedPrecondition, match="already on"), store.write() as s:
        state_totp.begin(session=s, username="carol", secret=totp.new_secret())
    with store.write() as s:
        user = state_totp.disable(session=s, username="carol", actor="admin", reason="reset")
        assert (user.totp_secret, user.totp_pending_secret, user.recovery_codes) == (None, None, [])
    assert _verify(store, "carol", "123456") == (False, "", 0)
    with store.read() as s:
        logged = events.list_after(session=s, after_seq=0, limit=100)
        found = [(e.type, e.subject, e.actor, e.payload_json) for e in logged]
        listed, _ = users.list_users(session=s, page_size=10, page_token="")
    assert ("totp_enabled", "carol", "t", '{"recovery_codes":1}') in found
    assert ("totp_reset", "carol", "admin", "{}") in found
    assert secret not in repr(found)
    assert [bool(row.totp_enabled) for row in listed] == [False]


def test_the_list_of_users_says_who_has_2fa(store: Store) -> None:
    _enable(store, "dave")
    with store.write() as s:
        users.create_user(session=s, username="erin", password_hash=HASH, role="viewer", actor="test")
    with store.read() as s:
        listed, _ = users.list_users(session=s, page_size=10, page_token="")
    assert {row.username: bool(row.totp_enabled) for row in listed} == {"dave": True, "erin": False}
