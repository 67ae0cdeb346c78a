from __future__ import annotations

from typing import Any

from services.deployer.runtime import failure_reason, summarize


def svc(service: str, state: str = "running", health: str = "", exit_code: int = 0) -> dict[str, Any]:
    return {"service": service, "container": f"x-{service}-1", "state": state, "health": health,
            "exit_code": exit_code, "ports": []}  # fmt: skip


def test_summaries() -> None:
    assert summarize([]) == ("stopped", "no containers")
    assert summarize([svc("a"), svc("b", health="healthy")]) == ("running", "")
    assert summarize([svc("a", health="starting")]) == ("running", "starting: a")
    assert summarize([svc("a"), svc("b", health="unhealthy")]) == ("unhealthy", "unhealthy: b")
    assert summarize([svc("a"), svc("b", "exited", exit_code=0)]) == ("partially_running", "not running: b")
    assert summarize([svc("a", "exited", exit_code=1)]) == ("failed", "service a exited with code 1")
    assert summarize([svc("a", "exited", exit_code=137), svc("b", "exited", exit_code=143)]) == (
        "stopped",
        "",
    )


def test_failure_reason_names_the_service() -> None:
    assert failure_reason([svc("web"), svc("db", "exited", exit_code=3)]) == "service db exited with code 3"
    assert failure_reason([svc("web", health="unhealthy")]) == "service web is unhealthy"
    assert failure_reason([svc("web")]) == ""
