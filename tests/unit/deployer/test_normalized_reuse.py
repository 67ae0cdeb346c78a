"""The worker's check right before Compose runs reuses the project the API's check normalized for
the same app and the same texts (issue 18 §2: one `docker compose config` per deploy, not two), and
that project is exactly what Compose makes of the files in the app's folder. Uses the real Compose
binary, no engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.deployer import compose, validation
from services.deployer.catalog import load_template
from services.deployer.settings import REPO_ROOT

TEMPLATES = sorted(p for p in (REPO_ROOT / "catalog").iterdir() if (p / "template.json").exists())

OWN_FILES = """\
services:
  web:
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "${PORT}"]
    ports: ["${PORT}:${PORT}"]
    volumes:
      - ./data:/data
      - ./site/html:/www:ro
      - cache:/cache
    environment:
      GREETING: ${GREETING:-hello}
    networks: [back]
  worker:
    image: busybox:1.36
    command: ["sleep", "infinity"]
    depends_on: [web]
    volumes: ["./jobs:/jobs"]
    networks: [back]
volumes:
  cache: {}
networks:
  back: {}
"""


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    validation._normalized.clear()
    yield
    validation._normalized.clear()


def _in_folder(apps_dir: Path, name: str, compose_text: str, env_text: str) -> dict[str, Any]:
    """What Compose makes of the files written into the app's own folder."""
    directory = apps_dir / name
    compose.write_files(directory, compose_text, env_text)
    return compose.load(validation._project(name, directory)).config


def _case(tmp_path: Path, name: str, compose_text: str, env_text: str) -> None:
    checked = validation.check(
        name=name, compose_text=compose_text, env_text=env_text, allowed=[], apps_dir=tmp_path
    ).config
    assert validation._normalized.get(validation._normalized.key(tmp_path / name, compose_text, env_text))
    assert checked == _in_folder(tmp_path, name, compose_text, env_text)


@pytest.mark.parametrize("folder", TEMPLATES, ids=lambda p: p.name)
def test_the_checked_project_is_what_compose_makes_of_the_app_folder(folder: Path, tmp_path: Path) -> None:
    template = load_template(folder)
    env, _ = template.render_env({})
    _case(tmp_path, template.name, template.compose, env)


def test_relative_binds_volumes_and_variables_land_in_the_app_folder(tmp_path: Path) -> None:
    _case(tmp_path, "own", OWN_FILES, "PORT=18080\n")


def test_the_worker_does_not_run_compose_again_for_checked_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = validation.check(
        name="own", compose_text=OWN_FILES, env_text="PORT=18080\n", allowed=[], apps_dir=tmp_path
    ).config
    compose.write_files(tmp_path / "own", OWN_FILES, "PORT=18080\n")
    calls: list[object] = []
    monkeypatch.setattr(compose, "load", lambda project, **_: calls.append(project))
    config = validation.check_run(
        name="own", compose_text=OWN_FILES, env_text="PORT=18080\n", apps_dir=tmp_path, allowed=[],
        existing=[],
    )  # fmt: skip
    assert calls == [] and config == checked
    # the policy still ran on disk: the bind sources inside the folder were made as real folders
    assert (tmp_path / "own" / "jobs").is_dir()


def test_other_texts_or_another_app_are_normalized_again(tmp_path: Path) -> None:
    validation.check(
        name="own", compose_text=OWN_FILES, env_text="PORT=18080\n", allowed=[], apps_dir=tmp_path
    )
    for name, env in (("own", "PORT=18081\n"), ("other", "PORT=18080\n")):
        compose.write_files(tmp_path / name, OWN_FILES, env)
        config = validation.check_run(
            name=name, compose_text=OWN_FILES, env_text=env, apps_dir=tmp_path, allowed=[], existing=[]
        )
        published = config["services"]["web"]["ports"][0]["published"]
        assert published == env.strip().split("=")[1]
        assert config["services"]["web"]["volumes"][0]["source"] == str(tmp_path / name / "data")


def test_files_that_read_other_files_are_always_normalized_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "services:\n  web:\n    image: busybox:1.36\n    env_file: [{path: web.env, required: false}]\n"
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "web.env").write_text("A=1\n")
    validation.check(name="own", compose_text=text, env_text="", allowed=[], apps_dir=tmp_path)
    assert not validation._normalized.get(validation._normalized.key(tmp_path / "own", text, ""))
    compose.write_files(tmp_path / "own", text, "")
    real = compose.load
    calls: list[object] = []

    def counted(project: compose.Project, *, as_written: bool = True) -> compose.Loaded:
        calls.append(project)
        assert as_written, "a file that names an env_file is also read as written"
        return real(project, as_written=as_written)

    monkeypatch.setattr(compose, "load", counted)
    validation.check_run(
        name="own", compose_text=text, env_text="", apps_dir=tmp_path, allowed=[], existing=[]
    )
    assert len(calls) == 1


def test_a_refused_file_is_not_remembered(tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: busybox:1.36\n    privileged: true\n"
    with pytest.raises(InvalidArgument):
        validation.check(name="bad", compose_text=text, env_text="", allowed=[], apps_dir=tmp_path)
    assert not validation._normalized.get(validation._normalized.key(tmp_path / "bad", text, ""))


def test_the_memory_keeps_the_newest_few() -> None:
    memory = validation._Normalized(size=2)
    for i in range(3):
        memory.put(("d", str(i)), {"i": i})
    assert memory.get(("d", "0")) is None and memory.get(("d", "2")) == {"i": 2}
    got = memory.get(("d", "2"))
    assert got is not None
    got["i"] = 99  # a caller's change does not reach what is kept
    assert memory.get(("d", "2")) == {"i": 2}
