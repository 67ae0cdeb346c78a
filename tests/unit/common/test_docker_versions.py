"""The API version an engine answered with is reused by new clients for a few seconds only
(services/common/dockerd.py)."""

from __future__ import annotations

from services.common.dockerd import _Versions


def test_a_version_is_reused_within_its_time_then_asked_again() -> None:
    versions = _Versions(seconds=60.0)
    versions.put("unix:///a.sock", "1.47")
    assert versions.get("unix:///a.sock") == "1.47"
    assert versions.get("unix:///b.sock") == ""  # each engine's own

    expired = _Versions(seconds=0.0)
    expired.put("unix:///a.sock", "1.47")
    assert expired.get("unix:///a.sock") == ""  # an engine replaced since is asked again
