"""Regressions found by the security suite (tests/security): names that reach command lines, an
env_file that reads a host file, very long .env names."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.deployer import envfile, validation


def _compose(service: str = "main", extra: str = "") -> str:
    return f'services:\n  "{service}":\n    image: busybox\n{extra}'


def _check(text: str, folder: Path, env: str = "") -> None:
    validation.check(name=folder.name, compose_text=text, env_text=env, allowed=[], apps_dir=folder.parent)


def _refused(text: str, folder: Path, env: str = "") -> str:
    """The message: Compose's own validation or the policy must refuse the file."""
    with pytest.raises(InvalidArgument) as refused:
        _check(text, folder, env)
    return refused.value.message


@pytest.mark.parametrize("name", ["-h", "..", "a;id", "x" * 64, "аpp"])
def test_bad_service_names_are_refused(name: str, tmp_path: Path) -> None:
    assert "service" in _refused(_compose(name), tmp_path)


@pytest.mark.parametrize("container", ["$$(id)", "/etc/passwd", "a b", "`id`"])
def test_bad_container_names_are_refused(container: str, tmp_path: Path) -> None:
    assert "container_name" in _refused(_compose(extra=f'    container_name: "{container}"\n'), tmp_path)


def test_good_names_pass(tmp_path: Path) -> None:
    _check(_compose("web-1", '    container_name: "blog_web.1"\n'), tmp_path / "app")


@pytest.mark.parametrize("path", ["/etc/passwd", "../../secrets/jwt.key", "${HOME}/.profile"])
def test_env_file_outside_the_app_folder_is_refused(path: str, tmp_path: Path) -> None:
    app = tmp_path / "apps" / "x"
    app.mkdir(parents=True)
    _refused(_compose(extra=f'    env_file: ["{path}"]\n'), app, env="HOME=/root\n")


def test_env_file_inside_the_app_folder_is_allowed(tmp_path: Path) -> None:
    """The .env sent, before the app's folder exists (it once failed: Compose looked on disk)."""
    _check(
        _compose(extra='    env_file: [".env", "${ENV_FILE:-.env}"]\n'), tmp_path / "new", "cluster.name=x\n"
    )


def test_very_long_env_names_are_refused() -> None:
    assert envfile.keys("A" * 128 + "=1\n") == ["A" * 128]
    with pytest.raises(InvalidArgument, match="at most 128"):
        envfile.keys("A" * 129 + "=1\n")


def test_invalid_yaml_says_where_in_plain_words(tmp_path: Path) -> None:
    message = _refused("services: [unclosed", tmp_path / "app")
    where = "compose file is not valid YAML (line 1, column 20): "
    assert message == where + "expected ',' or ']', but got the end of the file"


# ------------------------------------------------------------ round 2 (tests/security/test_round2_attacks.py)


@pytest.mark.parametrize(
    "option", ["label=type:spc_t", "label:type:unconfined_t", "label=disable", "label:user:x"]
)
def test_selinux_labels_that_lift_confinement_are_refused(option: str, tmp_path: Path) -> None:
    assert "rule security_opt" in _refused(_compose(extra=f'    security_opt: ["{option}"]\n'), tmp_path)


def test_an_selinux_level_is_allowed(tmp_path: Path) -> None:
    options = '["label=level:s0:c100,c200", "no-new-privileges:true"]'
    _check(_compose(extra=f"    security_opt: {options}\n"), tmp_path)


def test_a_relative_local_volume_device_is_refused_whatever_is_granted(tmp_path: Path) -> None:
    text = (
        _compose(extra="    volumes: ['vol:/v']\n")
        + "volumes:\n  vol:\n    driver_opts: {type: none, o: bind, device: ./etc}\n"
    )
    message = _refused(text, tmp_path / "app")
    assert "read by Docker from its own folder" in message and "never allowed" in message


def test_an_external_volume_of_the_app_itself_is_refused(tmp_path: Path) -> None:
    text = (
        _compose(extra="    volumes: ['vol:/v']\n")
        + "volumes:\n  vol:\n    external: true\n    name: appos-app_vol\n"
    )
    assert "external: true hides what the volume mounts" in _refused(text, tmp_path / "app")


@pytest.mark.parametrize("written", ["${V+/etc/passwd}", "${V:-.env}${W:+/../../../../etc/passwd}"])
def test_every_branch_of_a_variable_in_an_env_file_path_is_checked(written: str, tmp_path: Path) -> None:
    message = _refused(_compose(extra=f'    env_file: ["{written}"]\n'), tmp_path / "app", env="V=\n")
    assert "/etc/passwd" in message


def test_compose_s_own_environment_wins_over_the_env_file_in_a_path(tmp_path: Path) -> None:
    """`HOME=./inside` in .env: Compose still reads ${HOME} from its own environment."""
    text = _compose(extra='    env_file: ["${HOME}/creds.env"]\n')
    message = _refused(text, tmp_path / "app", "HOME=./in\n")
    assert "creds.env" in message and "outside the app's folder" in message


def test_a_bind_that_holds_a_folder_a_running_container_mounts_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "apps" / "app"
    text = _compose(extra="    volumes: ['./data:/p']\n")
    with pytest.raises(InvalidArgument, match="holds ./data/sub, which a running container"):
        validation.check(
            name="app", compose_text=text, env_text="", allowed=[], apps_dir=app.parent,
            running=[str(app / "data" / "sub")],
        )  # fmt: skip
