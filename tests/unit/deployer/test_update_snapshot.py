"""An update whose worker was killed is run again from the start (the reconciler requeues it). Its
volume snapshot must then be the one the first attempt took before anything changed, never a new
copy of what the new version may already have migrated; a copy the first attempt did not finish is
taken again (nothing had changed yet)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appos.v1 import apps_pb2, state_pb2
from services.deployer import update_run
from services.deployer.archive import VolumeEntry
from tests.unit.stub_by_name import StubByName


class _Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        pass


def _state(calls: list[str]) -> SimpleNamespace:
    def handle(method: str, request: Any) -> Any:
        calls.append(method)
        if method == "ListDeployments":
            return apps_pb2.ListDeploymentsReply()
        if method == "GetSetting":
            return state_pb2.StateSetting(key=request.key, value_json="true")  # opted into volumes
        return None  # AppendEvent

    return SimpleNamespace(stub=StubByName(handle))


def _run(data: Path, calls: list[str]) -> tuple[update_run.UpdateRun, _Sink]:
    def no_engine() -> Any:
        raise AssertionError("the volumes were copied again")

    executor = SimpleNamespace(
        state=_state(calls), settings=SimpleNamespace(data=data), engine_of=lambda server: no_engine
    )
    sink = _Sink()
    deployment = apps_pb2.Deployment(id="d1", app="blog", action="update", version=4)
    return update_run.UpdateRun(executor, deployment, sink), sink  # type: ignore[arg-type]


def _plan() -> update_run.Plan:
    return update_run.Plan.from_options({"update": {"previous": 3, "snapshot_volumes": True}})


def test_a_retried_update_keeps_the_snapshot_its_first_attempt_took(tmp_path: Path) -> None:
    folder = tmp_path / "updates" / "d1"
    folder.mkdir(parents=True)
    (folder / "appos-blog_data.tar").write_bytes(b"the data before the update")
    entry = VolumeEntry(name="data", docker_name="appos-blog_data", file="appos-blog_data.tar")
    (folder / "snapshot.json").write_text(json.dumps([entry.model_dump()]))
    run, sink = _run(tmp_path, [])
    snapshot = run._snapshot(_plan())
    assert snapshot is not None and snapshot.folder == folder
    assert [(e.name, p.read_bytes()) for e, p in snapshot.entries] == [
        ("data", b"the data before the update")
    ]
    assert any("kept from the attempt before" in line for line in sink.lines)


def test_a_copy_the_first_attempt_did_not_finish_is_taken_again(tmp_path: Path) -> None:
    folder = tmp_path / "updates" / "d1"
    folder.mkdir(parents=True)
    (folder / "appos-blog_data.tar").write_bytes(b"half")  # no snapshot.json: it never finished
    run, _ = _run(tmp_path, [])
    with pytest.raises(AssertionError, match="copied again"):  # it goes to the engine to copy anew
        run._snapshot(_plan())
    assert not (folder / "appos-blog_data.tar").exists(), "the half copy is not mistaken for one"


def test_a_finished_snapshot_is_read_back_whole(tmp_path: Path) -> None:
    assert update_run._taken(tmp_path / "nothing") is None
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "snapshot.json").write_text("[]")
    taken = update_run._taken(folder)
    assert taken is not None and taken.entries == []
    (folder / "snapshot.json").write_text("{not json")
    assert update_run._taken(folder) is None
