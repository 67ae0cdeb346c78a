"""Every built-in template: metadata valid, settings equal to the compose variables, images pinned,
and `docker compose config` (no pull, no engine) accepts it with its rendered .env."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.deployer import compose, validation
from services.deployer.catalog import Catalog, Template, compose_variables, load_template
from services.deployer.settings import REPO_ROOT

CATALOG = REPO_ROOT / "catalog"
TEST_TEMPLATES = REPO_ROOT / "tests" / "templates"
FOLDERS = sorted(p for p in CATALOG.iterdir() if (p / "template.json").exists())


def test_the_catalog_ships_at_least_sixty_templates() -> None:
    assert len(FOLDERS) >= 60
    assert len(Catalog.load([CATALOG]).search(search="", category="")) == len(FOLDERS)


@pytest.mark.parametrize(
    "folder", FOLDERS + sorted(p for p in TEST_TEMPLATES.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_template_is_valid_and_compose_accepts_it(folder: Path) -> None:
    template = load_template(folder)
    assert compose_variables(template.compose) == {s.key for s in template.settings}
    images = re.findall(r"^\s*image:\s*(\S+)", template.compose, flags=re.MULTILINE)
    assert images, "every service names an image"
    for image in images:
        assert ":" in image.rsplit("/", 1)[-1], f"{image} has no tag"
        assert not image.endswith(":latest") or folder.parent == TEST_TEMPLATES, f"{image} is not pinned"
    env, generated = template.render_env({})
    assert set(generated) == {s.key for s in template.settings if s.type == "password" and not s.default}
    config = validation.check(  # built-in templates need no exception
        name=template.name, compose_text=template.compose, env_text=env, allowed=[],
        apps_dir=Path("/srv/appos/apps"),
    ).config  # fmt: skip
    if template.web_service:
        assert template.web_service in config["services"]
        assert compose.published_port(config, template.web_service, template.web_port) > 0
    for name, service in config["services"].items():
        assert not service.get("privileged"), name
        assert service.get("network_mode") != "host", name
        for volume in service.get("volumes", []):
            assert volume.get("type") != "bind" or folder.parent == TEST_TEMPLATES, (
                f"{name} mounts a host path"
            )


def _template(**settings: dict[str, object]) -> Template:
    from services.deployer.catalog import _setting

    return Template(
        name="t", title="T", description="", category="test", compose="",
        settings=tuple(_setting({"key": k, **v}) for k, v in settings.items()),
    )  # fmt: skip


def test_render_env_types_defaults_and_generated_secrets() -> None:
    template = _template(
        PORT={"type": "int", "default": 8080, "required": True},
        DEBUG={"type": "bool", "default": False},
        MODE={"type": "choice", "choices": ["a", "b"], "default": "a"},
        PASSWORD={"type": "password", "required": True},
        TITLE={"type": "string"},
    )
    env, generated = template.render_env({"DEBUG": "yes", "TITLE": 'say "hi" $HOME \\o/'})
    assert list(generated) == ["PASSWORD"]
    assert f'PASSWORD="{generated["PASSWORD"]}"' in env
    assert 'PORT="8080"' in env and 'DEBUG="true"' in env and 'MODE="a"' in env
    text = "services:\n  a:\n    image: x:1\n    environment:\n      T: ${TITLE}\n      P: ${PORT}\n"
    config = validation.check(
        name="a", compose_text=text, env_text=env, allowed=[], apps_dir=Path("/srv/appos/apps")
    ).config
    assert config["services"]["a"]["environment"]["T"] == 'say "hi" $$HOME \\o/'  # compose re-escapes $


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ({"PORT": "x"}, "whole number"),
        ({"PORT": "0"}, "port"),
        ({"MODE": "c"}, "one of"),
        ({"DEBUG": "maybe"}, "true or false"),
        ({"OTHER": "1"}, "unknown setting"),
        ({"TITLE": "a\nb"}, "line breaks"),
    ],
)
def test_render_env_refuses_bad_values(given: dict[str, str], needle: str) -> None:
    template = _template(
        PORT={"type": "int", "default": 8080},
        DEBUG={"type": "bool"},
        MODE={"type": "choice", "choices": ["a", "b"]},
        TITLE={"type": "string"},
    )
    with pytest.raises(InvalidArgument, match=needle):
        template.render_env(given)


def test_generated_password_length() -> None:
    env, generated = _template(KEY={"type": "password", "length": 48}).render_env({})
    assert len(generated["KEY"]) == 64
    with pytest.raises(ValueError, match="length"):
        _template(NAME={"type": "string", "length": 48})


def test_required_setting_without_default() -> None:
    with pytest.raises(InvalidArgument, match="required"):
        _template(NAME={"type": "string", "required": True}).render_env({})


def test_bad_templates_are_left_out(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "compose.yaml").write_text("services:\n  a:\n    image: x:1\n    command: ${CMD}\n")
    (good / "template.json").write_text(
        '{"name": "good", "category": "web", "settings": [{"key": "CMD", "type": "string"}]}'
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "compose.yaml").write_text("services:\n  a:\n    image: x:1\n    command: ${UNDECLARED}\n")
    (bad / "template.json").write_text('{"name": "bad", "category": "web", "settings": []}')
    catalog = Catalog.load([tmp_path])
    assert [t.name for t in catalog.search(search="", category="")] == ["good"]


def _folder(root: Path, name: str, meta: str) -> None:
    (root / name).mkdir()
    (root / name / "compose.yaml").write_text("services:\n  a:\n    image: x:1\n")
    (root / name / "template.json").write_text(meta)


# (folder, template.json, what the log line says)
BAD = [
    ("nocategory", '{"name": "nocategory"}', "category: Field required"),
    ("badtype", '{"name": "badtype", "category": "web", "settings": "PORT"}', "settings: Input should be"),
    ("badport", '{"name": "badport", "category": "web", "web": {"service": "a", "port": "x"}}', "web.port"),
    ("badkind", '{"name": "badkind", "category": "web", "settings": [{"key": "K", "type": "f"}]}', ".0.type"),
    ("Bad_Name", '{"name": "Bad_Name", "category": "web"}', "name: Value error, template name must be"),
    ("notanobject", '["name", "notanobject"]', "Input should be an object"),
    ("notjson", '{"name": ', "Invalid JSON"),
    ("typo", '{"name": "typo", "category": "web", "setings": []}', "setings: Extra inputs are not"),
]


@pytest.mark.parametrize(("folder", "meta", "reason"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_template_is_logged_and_left_out_and_the_rest_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, folder: str, meta: str, reason: str
) -> None:
    _folder(tmp_path, "good", '{"name": "good", "category": "web"}')
    _folder(tmp_path, folder, meta)
    _folder(tmp_path, "zgood", '{"name": "zgood", "category": "web", "web": {"service": "a", "port": 80}}')
    with caplog.at_level(logging.ERROR, logger="services.deployer.catalog"):
        catalog = Catalog.load([tmp_path])
    assert [t.name for t in catalog.search(search="", category="")] == ["good", "zgood"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert folder in record.getMessage() and reason in record.getMessage(), record.getMessage()


def test_search_ranks_name_matches_first() -> None:
    catalog = Catalog.load([CATALOG])
    found = [t.name for t in catalog.search(search="postgres", category="")]
    # alphabetically adminer, directus, mattermost … mention it first; the name match leads
    assert found[0] == "postgresql"
    assert {"adminer", "directus", "umami"} <= set(found[1:])
    assert [t.name for t in catalog.search(search="red", category="")][0] == "redis"
    assert found[1:] == sorted(found[1:])  # the rest in name order
