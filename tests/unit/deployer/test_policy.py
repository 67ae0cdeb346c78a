from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.deployer import envfile, policy
from services.deployer.servicer import etag, parse_etag, unified


def _rules(service: dict[str, Any], app_dir: Path) -> list[str]:
    return [rule for rule, _ in policy.violations({"services": {"web": service}}, app_dir)]


def test_each_rule(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    os.symlink("/etc", app / "escape")
    (app / "data").mkdir()
    assert _rules({"privileged": True}, app) == ["privileged"]
    assert _rules({"cap_add": ["NET_ADMIN", "CHOWN", "cap_sys_admin"]}, app) == [
        "cap_add:NET_ADMIN",
        "cap_add:SYS_ADMIN",
    ]
    assert _rules({"network_mode": "host", "pid": "host", "ipc": "host"}, app) == [
        "network_mode:host", "pid:host", "ipc:host",
    ]  # fmt: skip
    assert _rules({"network_mode": "bridge"}, app) == []
    assert _rules({"devices": [{"source": "/dev/sda", "target": "/dev/sda"}]}, app) == ["devices"]
    assert _rules({"security_opt": ["seccomp:unconfined", "no-new-privileges:true"]}, app) == ["security_opt"]

    def bind(src: str) -> dict[str, Any]:
        return {"volumes": [{"type": "bind", "source": src, "target": "/x"}]}

    assert _rules(bind("/var/run/docker.sock"), app) == ["docker_socket"]
    assert _rules(bind("/etc"), app) == ["host_path"]
    assert _rules(bind(str(app / "escape")), app) == ["host_path"]
    assert _rules(bind(str(app / ".." / "other")), app) == ["host_path"]
    assert _rules(bind(str(app / "data")), app) == []
    assert _rules({"volumes": [{"type": "volume", "source": "data", "target": "/x"}]}, app) == []
    assert _rules({"build": {"context": "/"}}, app) == ["host_path"]
    device = {
        "services": {},
        "volumes": {"v": {"driver_opts": {"type": "none", "o": "bind", "device": "/root"}}},
    }
    assert [r for r, _ in policy.violations(device, app)] == ["host_path"]


def test_enforce_names_service_and_key_and_honours_exceptions(tmp_path: Path) -> None:
    config: dict[str, Any] = {"services": {"db": {"privileged": True, "cap_add": ["SYS_MODULE"]}}}
    with pytest.raises(InvalidArgument) as info:
        policy.enforce(config, tmp_path, [])
    assert "service db: privileged" in info.value.message and "cap_add SYS_MODULE" in info.value.message
    with pytest.raises(InvalidArgument, match="SYS_MODULE"):
        policy.enforce(config, tmp_path, ["privileged"])
    policy.enforce(config, tmp_path, ["privileged", "cap_add:SYS_MODULE"])


def test_exception_names_are_checked() -> None:
    assert policy.validate_exceptions(["privileged", "cap_add:NET_ADMIN", "privileged"]) == [
        "cap_add:NET_ADMIN", "privileged",
    ]  # fmt: skip
    for bad in ("root", "cap_add:CHOWN", "cap_add:<CAP>"):
        with pytest.raises(InvalidArgument):
            policy.validate_exceptions([bad])


def test_env_masking() -> None:
    text = 'DB_PASSWORD="x"\nAPI_KEY=abc\nHTTP_PORT="8080"\n# comment\nsecret_token=1\n'
    masked = envfile.mask(text)
    assert (
        masked
        == 'DB_PASSWORD=********\nAPI_KEY=********\nHTTP_PORT="8080"\n# comment\nsecret_token=********\n'
    )


def test_etags_and_diffs() -> None:
    tag = etag(7, "0123456789abcdef" * 4)
    assert parse_etag(tag) == 7 and parse_etag(f"W/{tag}") == 7
    assert parse_etag("*") == 0 and parse_etag('"v7"') == 0
    assert unified("a\nb\n", "a\nc\n", "v1", "v2").splitlines()[2:] == ["@@ -1,2 +1,2 @@", " a", "-b", "+c"]
    assert unified("same\n", "same\n", "v1", "v2") == ""
