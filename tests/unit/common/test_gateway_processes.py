"""APPOS_GATEWAY_PROCESSES: the launcher's environment and the programs supervisord makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from services.launcher import SUPERVISORD_CONF, prepare_data_dir, supervisor_env


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    prepare_data_dir(tmp_path / "data", tmp_path / "run")
    return supervisor_env(data=tmp_path / "data", run_dir=tmp_path / "run", extra=extra)


def _gateways(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """Each gateway process supervisord would run: its name → its environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = ServerOptions()
    options.realize(args=["-c", str(SUPERVISORD_CONF)])
    return {
        process.name: dict(process.environment or {})
        for group in options.process_group_configs
        for process in group.process_configs
        if process.command.endswith("-m services.gateway.main")
    }


def test_one_gateway_by_default_named_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPOS_GATEWAY_PROCESSES", raising=False)
    env = _env(tmp_path)
    assert (env["APPOS_GATEWAY_PROCESSES"], env["APPOS_GATEWAY_EXTRA_PROCESSES"]) == ("1", "0")
    assert list(_gateways(env, monkeypatch)) == ["gateway"]


def test_three_gateways_each_knowing_its_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(tmp_path, APPOS_GATEWAY_PROCESSES="3")
    gateways = _gateways(env, monkeypatch)
    assert sorted(gateways) == ["gateway", "gateway-2", "gateway-3"]
    assert "APPOS_GATEWAY_PROCESS" not in gateways["gateway"]  # process 1: the setting's default
    assert gateways["gateway-3"]["APPOS_GATEWAY_PROCESS"] == "3"


@pytest.mark.parametrize("value", ["0", "9", "two", "-1"])
def test_a_bad_number_of_gateways_is_refused_saying_so(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="APPOS_GATEWAY_PROCESSES must be a number from 1 to 8"):
        _env(tmp_path, APPOS_GATEWAY_PROCESSES=value)
