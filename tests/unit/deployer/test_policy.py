from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.deployer import envfile, policy
from services.deployer.drift import etag, parse_etag
from services.deployer.versions import unified


def _rules(service: dict[str, Any], app_dir: Path, **top: Any) -> list[str]:
    config = {"name": "appos-app", "services": {"web": service}, **top}
    return [v.rule or "never" for v in policy.violations(config, app_dir)]


def _bind(src: str, read_only: bool = False) -> dict[str, Any]:
    return {"volumes": [{"type": "bind", "source": src, "target": "/x", "read_only": read_only}]}


def test_each_rule(tmp_path: Path) -> None:
    app = tmp_path / "app"
    assert _rules({"privileged": True}, app) == ["privileged"]
    assert _rules({"privileged": False, "image": "x"}, app) == []
    assert _rules({"cap_add": ["NET_ADMIN", "CHOWN", "cap_sys_admin", "Cap_Net_Bind_Service"]}, app) == [
        "cap_add:NET_ADMIN",
        "cap_add:SYS_ADMIN",
    ]
    assert _rules({"network_mode": "host", "pid": "host", "ipc": "host"}, app) == [
        "network_mode:host", "pid:host", "ipc:host",
    ]  # fmt: skip
    assert _rules({"network_mode": "container:db"}, app) == ["container"]
    assert _rules({"network_mode": "bridge"}, app) == []
    assert _rules({"devices": [{"source": "/dev/sda", "target": "/dev/sda"}]}, app) == ["devices"]
    assert _rules({"security_opt": ["seccomp = unconfined", "no-new-privileges:true"]}, app) == [
        "security_opt"
    ]
    assert _rules({"sysctls": {"net.core.somaxconn": "1024", "kernel.panic": "1"}}, app) == ["sysctls"]
    assert _rules({"oom_score_adj": -500}, app) == ["oom_kill_disable"]
    assert _rules({"develop": {"watch": []}}, app) == ["key:develop"]
    assert _rules({"use_api_socket": True}, app) == ["docker_socket"]
    assert _rules({"logging": {"driver": "gelf"}}, app) == ["logging_driver"]
    assert _rules({"post_start": [{"command": ["id"], "privileged": True}]}, app) == ["privileged"]
    assert _rules(_bind("/var/run/docker.sock"), app) == ["docker_socket"]
    assert _rules(_bind("/etc"), app) == ["host_path:/etc"]
    assert _rules(_bind("/etc/localtime", read_only=True), app) == []
    assert _rules(_bind("/etc/localtime"), app) == ["host_path:/etc/localtime"]  # writable: no
    assert _rules(_bind(str(app / ".." / "other")), app) == [f"host_path:{tmp_path / 'other'}"]
    assert _rules(_bind(str(app / "data")), app) == []
    assert _rules(_bind(str(app)), app) == ["never"]
    assert _rules(_bind(str(app / ".env")), app) == ["never"]
    assert _rules({"volumes": [{"type": "volume", "source": "data", "target": "/x"}]}, app) == []
    assert _rules({"build": {"context": "/"}}, app) == ["host_path:/"]
    device = {"v": {"name": "appos-app_v", "driver_opts": {"type": "none", "o": "bind", "device": "/root"}}}
    assert _rules({}, app, volumes=device) == ["host_path:/root"]
    assert _rules({}, app, volumes={"v": {"name": "appos-other_v"}}) == ["container"]
    assert _rules({}, app, networks={"n": {"name": "appos-app_n", "driver": "macvlan"}}) == ["network_driver"]


def test_a_bind_may_not_hold_another_path_of_the_project(tmp_path: Path) -> None:
    app = tmp_path / "app"
    config = {
        "services": {
            "a": _bind(str(app / "data")),
            "b": _bind(str(app / "data" / "sub")),
            "c": {"env_file": [str(app / "data" / "x.env")]},
        }
    }
    found = policy.violations(config, app)
    assert [v.rule for v in found] == [""]  # a holds b's source (reported once)
    assert "./data/sub" in found[0].text() and "never allowed" in found[0].text()
    # a folder that an existing container of the app mounts counts too
    alone = {"services": {"b": _bind(str(app / "data" / "sub"))}}
    assert [v.rule for v in policy.violations(alone, app, running=[str(app / "data")])] == [""]


def test_symlinks_on_a_path_are_refused_on_disk(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    os.symlink("/", app / "data")
    item = policy.HostPath("service b: volume ./data/etc:/host", str(app / "data" / "etc"), mounted=True)
    found = policy.check_on_disk([item], app)
    assert len(found) == 1 and "./data is a symbolic link" in found[0].message and not found[0].rule
    fresh = policy.HostPath("service a: volume ./new/deep:/x", str(app / "new" / "deep"), mounted=True)
    assert policy.check_on_disk([fresh], app) == []
    assert (app / "new" / "deep").is_dir() and not (app / "new" / "deep").is_symlink()  # made real


def test_enforce_names_service_and_key_and_honours_exceptions(tmp_path: Path) -> None:
    config: dict[str, Any] = {"services": {"db": {"privileged": True, "cap_add": ["SYS_MODULE"]}}}
    with pytest.raises(InvalidArgument) as info:
        policy.enforce(config, tmp_path, [])
    assert "service db: privileged is not allowed (rule privileged)" in info.value.message
    assert "cap_add SYS_MODULE is not allowed (rule cap_add:SYS_MODULE)" in info.value.message
    with pytest.raises(InvalidArgument, match="SYS_MODULE"):
        policy.enforce(config, tmp_path, ["privileged"])
    policy.enforce(config, tmp_path, ["privileged", "cap_add:SYS_MODULE"])


def test_a_host_path_exception_allows_its_path_and_below_only(tmp_path: Path) -> None:
    config = {"services": {"m": _bind("/srv/media/films")}}
    policy.enforce(config, tmp_path, ["host_path:/srv/media"])
    policy.enforce(config, tmp_path, ["host_path:/srv/media/films"])
    for other in ("host_path:/srv/med", "host_path:/srv/media/films/x", "host_path:/etc"):
        with pytest.raises(InvalidArgument, match="rule host_path:/srv/media/films"):
            policy.enforce(config, tmp_path, [other])


def test_exception_names_are_checked() -> None:
    given = ["privileged", "cap_add:net_admin", "privileged", "host_path:/srv/"]
    assert policy.validate_exceptions(given) == ["cap_add:NET_ADMIN", "host_path:/srv", "privileged"]
    for bad in ("root", "cap_add:<CAP>", "host_path", "host_path:srv", "host_path:/srv/../etc", "key:"):
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
