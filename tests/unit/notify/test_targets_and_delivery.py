"""Target validation and masking, and the worker's delivery policy (retries, backoff, claims)
with an in-memory state and Redis standing in for the real ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appos.v1 import notifications_pb2, state_pb2
from services.common.errors import InvalidArgument, NotFound
from services.notify import targets
from services.notify.delivery import Deliverer, backoff
from services.notify.events import KINDS, Notification
from services.notify.send import Result
from tests.unit.stub_by_name import StubByName

SECRET = "a-webhook-secret-0123"


def _webhook(name: str = "hook", url: str = "https://hooks.example.com/x", secret: str = SECRET, **kw: Any):  # type: ignore[no-untyped-def]
    return notifications_pb2.NotificationTargetSpec(
        name=name, webhook=notifications_pb2.WebhookConfig(url=url, secret=secret), **kw
    )


def _email(**config: Any) -> notifications_pb2.NotificationTargetSpec:
    base: dict[str, Any] = {
        "host": "smtp.example.com", "username": "appos", "password": "smtp-pass-word",
        "from_address": "appos@example.com", "to": ["ops@example.com"],
    }  # fmt: skip
    base.update(config)
    return notifications_pb2.NotificationTargetSpec(name="mail", email=notifications_pb2.EmailConfig(**base))


def test_a_webhook_spec() -> None:
    spec = targets.from_spec(_webhook(events=["deployment_failed", "deployment_failed"]))
    assert spec.kind == "webhook" and spec.enabled
    assert spec.config == {"url": "https://hooks.example.com/x", "secret": SECRET}
    assert spec.events == ["deployment_failed"]
    assert targets.from_spec(_webhook()).events == list(KINDS)  # none given: all of them


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (_webhook(name="Bad Name"), "target name"),
        (_webhook(name=""), "target name"),
        (_webhook(url="ftp://example.com/x"), "http:// or https://"),
        (_webhook(url="javascript:alert(1)"), "http:// or https://"),
        (_webhook(url="https://user:pw@example.com/"), "user or password"),
        (_webhook(url="https://example.com:99999/"), "port"),
        (_webhook(url="https://exa mple.com/"), "without spaces"),
        (_webhook(url="https:///nohost"), "host name"),
        (_webhook(secret=""), "secret is required"),
        (_webhook(secret="short"), "at least 16"),
        (_webhook(secret="x" * 300), "at most 256"),
        (_webhook(events=["everything"]), "unknown event kind"),
        (notifications_pb2.NotificationTargetSpec(name="x"), "webhook or an email"),
        (_email(port=70000), "port"),
        (_email(security="tls"), "security"),
        (_email(host=""), "host is required"),
        (_email(host="bad host!"), "host name"),
        (_email(to=[]), "recipient"),
        (_email(to=["not-an-address"]), "not an email address"),
        (_email(to=["a@b.com\r\nBcc: x@y.com"]), "not an email address"),
        (_email(from_address="appos"), "from_address"),
        (_email(password=""), "password is required"),
        (_email(username="", password="p"), "needs a username"),
        (_email(security="none"), "only over TLS"),
        (_email(to=[f"u{i}@example.com" for i in range(21)]), "at most 20"),
    ],
)
def test_bad_specs_are_refused(spec: notifications_pb2.NotificationTargetSpec, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        targets.from_spec(spec)


def test_email_defaults_and_a_password_in_clear_to_loopback() -> None:
    spec = targets.from_spec(_email())
    assert spec.config["port"] == 587 and spec.config["security"] == "starttls"
    assert targets.from_spec(_email(security="ssl")).config["port"] == 465
    local = targets.from_spec(_email(security="none", host="127.0.0.1", port=2525))
    assert local.config["port"] == 2525
    no_login = targets.from_spec(_email(security="none", username="", password=""))
    assert no_login.config["password"] == ""


def test_an_update_keeps_stored_secrets_unless_given() -> None:
    stored = targets.from_spec(_webhook()).to_state()
    kept = targets.from_spec(_webhook(secret="", url="http://127.0.0.1:9/new"), stored)
    assert kept.config == {"url": "http://127.0.0.1:9/new", "secret": SECRET}
    changed = targets.from_spec(_webhook(secret="another-secret-4567"), stored)
    assert changed.config["secret"] == "another-secret-4567"
    # switching kind does not carry a secret over
    with pytest.raises(InvalidArgument, match="password is required"):
        targets.from_spec(_email(password=""), stored)
    mail = targets.from_spec(_email(), None).to_state()
    assert targets.from_spec(_email(password=""), mail).config["password"] == "smtp-pass-word"
    assert targets.from_spec(_email(username="", password=""), mail).config["password"] == ""


def test_public_view_masks_secrets() -> None:
    hook = targets.to_public(targets.from_spec(_webhook()).to_state())
    assert hook.webhook.secret == "" and hook.webhook.secret_set
    assert hook.webhook.url == "https://hooks.example.com/x" and hook.kind == "webhook"
    mail = targets.to_public(targets.from_spec(_email()).to_state())
    assert mail.email.password == "" and mail.email.password_set
    assert mail.email.username == "appos" and list(mail.email.to) == ["ops@example.com"]
    assert SECRET not in str(hook) and "smtp-pass-word" not in str(mail)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, base=5, cap=30) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


class FakeState:
    def __init__(self, target: state_pb2.StateNotificationTarget | None) -> None:
        self.target = target
        self.recorded: list[tuple[str, int, bool]] = []
        self.stub = StubByName(self.call)

    def call(self, method: str, request: Any) -> Any:
        if method == "GetNotificationTarget":
            if self.target is None:
                raise NotFound("gone")
            return self.target
        if method == "RecordNotificationDelivery":
            self.recorded.append((request.delivery.status, request.delivery.attempts, request.final_failure))
            return request.delivery
        raise AssertionError(method)


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def set(self, key: str, value: str, *, nx: bool = False, ex: int = 0) -> bool:
        if nx and key in self.data:
            return False
        self.data[key] = value
        return True

    def get(self, key: str) -> str | None:
        return self.data.get(key)


NOTE = Notification(event="deployment_failed", subject="d", message="m", app="a", occurred_at=1, seq=5)


def _deliverer(state: FakeState, results: list[Result], sent: list[str]) -> Deliverer:
    def send(
        kind: str, config: dict[str, Any], note: Notification, *, delivery_id: str, timeout: float
    ) -> Result:
        sent.append(delivery_id)
        return results.pop(0)

    return Deliverer(
        state=state, redis=FakeRedis(), max_attempts=3, retry_base_seconds=2,  # type: ignore[arg-type]
        retry_max_seconds=60, timeout_seconds=1, send=send,
    )  # fmt: skip


def _target(enabled: bool = True) -> state_pb2.StateNotificationTarget:
    stored = targets.from_spec(_webhook()).to_state()
    stored.enabled = enabled
    return stored


def test_retries_then_delivers() -> None:
    state, sent = FakeState(_target()), []  # type: ignore[var-annotated]
    worker = _deliverer(
        state,
        [Result(False, "HTTP 500", 500, True), Result(False, "HTTP 500", 500, True), Result(True)],
        sent,
    )
    waits = [worker.run(target="hook", notification=NOTE.to_dict(), claim="c1", attempt=n) for n in (1, 2, 3)]
    assert waits == [2, 4, None]
    assert sent == ["5-hook"] * 3  # the same delivery id on every attempt
    assert state.recorded == [("retrying", 1, False), ("retrying", 2, False), ("delivered", 3, False)]


def test_gives_up_after_the_last_attempt_and_says_so() -> None:
    state, sent = FakeState(_target()), []  # type: ignore[var-annotated]
    worker = _deliverer(state, [Result(False, "down", 0, True)] * 3, sent)
    waits = [worker.run(target="hook", notification=NOTE.to_dict(), claim="c1", attempt=n) for n in (1, 2, 3)]
    assert waits == [2, 4, None]
    assert state.recorded[-1] == ("failed", 3, True)  # final: notification_failed is appended


def test_a_permanent_error_is_not_retried() -> None:
    state, sent = FakeState(_target()), []  # type: ignore[var-annotated]
    worker = _deliverer(state, [Result(False, "HTTP 404", 404, False)], sent)
    assert worker.run(target="hook", notification=NOTE.to_dict(), claim="c1", attempt=1) is None
    assert state.recorded == [("failed", 1, True)]


def test_a_second_dispatch_of_the_same_event_is_dropped() -> None:
    state, sent = FakeState(_target()), []  # type: ignore[var-annotated]
    worker = _deliverer(state, [Result(True), Result(True)], sent)
    assert worker.run(target="hook", notification=NOTE.to_dict(), claim="first", attempt=1) is None
    assert worker.run(target="hook", notification=NOTE.to_dict(), claim="second", attempt=1) is None
    assert sent == ["5-hook"]


def test_removed_or_disabled_targets_get_nothing() -> None:
    sent: list[str] = []
    gone = _deliverer(FakeState(None), [Result(True)], sent)
    assert gone.run(target="hook", notification=NOTE.to_dict(), claim="c", attempt=1) is None
    off = _deliverer(FakeState(_target(enabled=False)), [Result(True)], sent)
    assert off.run(target="hook", notification=NOTE.to_dict(), claim="c", attempt=1) is None
    assert sent == []


def test_stored_config_is_plain_json() -> None:
    stored = targets.from_spec(_webhook()).to_state()
    assert json.loads(stored.config_json) == {"secret": SECRET, "url": "https://hooks.example.com/x"}
