"""Each store format's fixture (tests/fixtures/stores/<format>/): detected, converted into the
expected templates with the expected entries skipped, every template valid for the catalog, and
every compose file accepted by Compose and by AppOS's policy, except the privileged one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.errors import InvalidArgument
from services.deployer import validation
from services.deployer.catalog import TemplateSpec, compose_variables, load_template
from services.deployer.settings import REPO_ROOT
from services.deployer.stores.formats import Converted, UnknownFormat, convert, detect

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "stores"
BUILT = ["busy-web", "privileged-tool", "weak-db"]
# fixture folder → (format, converted names, {skipped entry: words of its reason})
EXPECTED: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "casaos": (
        "casaos", BUILT,
        {"Apps/Broken": "is not valid YAML at line 6", "Apps/NoCompose": "no docker-compose.yml"},
    ),
    "runtipi": (
        "runtipi", BUILT,
        {"apps/broken": "is not valid JSON at line 6", "apps/no-compose": "no docker-compose.yml"},
    ),
    "umbrel": (
        "umbrel", BUILT,
        {"broken": "is not valid YAML at line 9", "needs-bitcoin": "other Umbrel apps (bitcoin)"},
    ),
    "dokploy": (
        "dokploy", BUILT,
        {"blueprints/broken": "template.toml is not valid TOML", "blueprints/with-mounts": "(mounts)"},
    ),
    "coolify": (
        "coolify", BUILT,
        {
            "templates/compose/broken.yaml": "is not valid YAML at line 6",
            "templates/compose/builds-from-source.yaml": "builds an image from source, which AppOS stores",
        },
    ),
    "portainer-v2": (
        "portainer", BUILT,
        {
            "#3 Broken": "names no image",
            "#4 Windows only": "windows hosts",
            "#6 Elsewhere": "repository (https://github.com/example/elsewhere), which could not be read",
        },
    ),
    "portainer-v3": (
        "portainer", ["busy-web", "privileged-tool", "busy-pair"],
        {"#4 Fetched stack": "which could not be read", "#5 Edge stack": "Edge stack"},
    ),
}  # fmt: skip
# fixture folder → the entry with the store's weak password, and that password
WEAK = {
    "casaos": ("weak-db", "changeme"),
    "runtipi": ("weak-db", "tipi"),
    "umbrel": ("weak-db", "changeme"),
    "dokploy": ("weak-db", "changeme"),
    "coolify": ("weak-db", "changeme"),
    "portainer-v2": ("weak-db", "secret"),
    "portainer-v3": ("busy-web", "changeme"),
}


def _all() -> list[tuple[str, Converted]]:
    return [(store, c) for store in EXPECTED for c in convert(FIXTURES / store).converted]


@pytest.mark.parametrize("store", sorted(EXPECTED))
def test_detect(store: str) -> None:
    assert detect(FIXTURES / store) == EXPECTED[store][0]


def test_a_folder_in_no_format_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("just a folder\n")
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    with pytest.raises(UnknownFormat) as caught:
        detect(tmp_path)
    layouts = ("Apps/<app>/docker-compose.yml", "apps/<id>/config.json", "umbrel-app.yml", "template.toml",
               "templates/compose/<name>.yaml", "templates.json")  # fmt: skip
    assert all(layout in str(caught.value) for layout in layouts), caught.value
    with pytest.raises(UnknownFormat, match="no CasaOS store"):
        convert(tmp_path, "casaos")
    with pytest.raises(UnknownFormat, match="unknown store format 'yunohost'"):
        convert(tmp_path, "yunohost")
    with pytest.raises(UnknownFormat, match="not a folder"):
        detect(tmp_path / "missing")


@pytest.mark.parametrize("store", sorted(EXPECTED))
def test_convert_names_and_skipped_reasons(store: str) -> None:
    result = convert(FIXTURES / store)
    form, names, skipped = EXPECTED[store]
    assert result.format == form
    assert [c.name for c in result.converted] == names
    assert {s.entry for s in result.skipped} == set(skipped)
    for entry in result.skipped:
        assert skipped[entry.entry] in entry.reason, entry


@pytest.mark.parametrize("store", sorted(EXPECTED))
def test_weak_password_becomes_a_generated_setting(store: str) -> None:
    name, password = WEAK[store]
    converted = next(c for c in convert(FIXTURES / store).converted if c.name == name)
    settings = {s["key"]: s for s in converted.spec["settings"]}
    notes = [n for n in converted.notes if f"fixed password ({password!r})" in n]
    assert notes, converted.notes
    key = notes[0].split(":")[0]
    assert settings[key]["type"] == "password" and "default" not in settings[key]
    for service in yaml.safe_load(converted.compose)["services"].values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        assert not [k for k, v in environment.items() if "PASSWORD" in k and str(v) == password], service


@pytest.mark.parametrize(("store", "converted"), _all(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_template_is_valid_and_its_variables_are_its_settings(store: str, converted: Converted) -> None:
    spec = TemplateSpec.model_validate(converted.spec)
    assert spec.name == converted.name
    assert compose_variables(converted.compose) == {s.key for s in spec.settings}
    config = yaml.safe_load(converted.compose)
    assert not {"name", "version"} & set(config)
    assert "x-casaos" not in converted.compose and "traefik." not in converted.compose
    if spec.web is not None:
        assert spec.settings[0].key == "HTTP_PORT" and spec.settings[0].type == "int"
        assert spec.settings[0].default not in (8080, 8081)
        assert f"${{HTTP_PORT}}:{spec.web.port}" in config["services"][spec.web.service]["ports"]


def _check(converted: Converted, tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / converted.name
    folder.mkdir()
    (folder / "compose.yaml").write_text(converted.compose)
    (folder / "template.json").write_text(json.dumps(converted.spec))
    template = load_template(folder)
    required = {s.key: "admin@example.com" for s in template.settings if s.required and not s.default}
    env, _ = template.render_env(required)
    return validation.check(
        name=template.name, compose_text=template.compose, env_text=env, allowed=[],
        apps_dir=Path("/srv/appos/apps"),
    ).config  # fmt: skip


@pytest.mark.parametrize(("store", "converted"), _all(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_compose_and_policy_accept_it_unless_privileged(
    store: str, converted: Converted, tmp_path: Path
) -> None:
    if converted.name == "privileged-tool":
        with pytest.raises(InvalidArgument, match="privileged is not allowed"):
            _check(converted, tmp_path)
        return
    config = _check(converted, tmp_path)
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            assert volume["type"] != "bind" or volume["source"] == "/etc/localtime", (name, volume)


def test_casaos_details() -> None:
    busy = next(c for c in convert(FIXTURES / "casaos").converted if c.name == "busy-web")
    settings = {s["key"]: s for s in busy.spec["settings"]}
    assert settings["HTTP_PORT"]["default"] == 8110  # the store's port_map
    assert (settings["PUID"]["type"], settings["PUID"]["default"]) == ("int", 1000)
    assert settings["TZ"]["default"] == "UTC" and settings["SITE_NAME"]["default"] == "Busy web"
    assert busy.spec["title"] == "Busy Web" and busy.spec["logo"] == "https://example.com/busy-web/icon.png"
    assert "/DATA" not in busy.compose and any("named volumes (www)" in n for n in busy.notes)
    weak = next(c for c in convert(FIXTURES / "casaos").converted if c.name == "weak-db")
    config = yaml.safe_load(weak.compose)
    # the app reaches its database by the store's container name, kept as an alias
    assert config["services"]["database"]["networks"]["default"]["aliases"] == ["weak-db-postgres"]
    assert "postgres://app:${DB_PASSWORD}@weak-db-postgres" in weak.compose
    assert "Sign in as admin the first time." in weak.notes


def test_runtipi_details() -> None:
    busy = next(c for c in convert(FIXTURES / "runtipi").converted if c.name == "busy-web")
    settings = {s["key"]: s for s in busy.spec["settings"]}
    assert settings["HTTP_PORT"]["default"] == 8120
    secret = settings["BUSY_SESSION_SECRET"]
    assert secret["type"] == "password" and secret["length"] == 24  # min 32 characters
    assert settings["BUSY_GREETING"]["default"] == "hello" and "BUSY_UNUSED" not in settings
    assert settings["PUBLIC_DOMAIN"]["default"] == "localhost"
    config = yaml.safe_load(busy.compose)
    assert "networks" not in config  # tipi_main_network dropped, and Traefik's labels
    assert config["services"]["busy-web"]["labels"] == {"org.example.kept": "yes"}


def test_umbrel_details() -> None:
    result = {c.name: c for c in convert(FIXTURES / "umbrel").converted}
    busy = yaml.safe_load(result["busy-web"].compose)
    assert set(busy["services"]) == {"web"}  # app_proxy dropped
    settings = {s["key"]: s for s in result["busy-web"].spec["settings"]}
    assert settings["APP_PASSWORD"]["type"] == settings["APP_SEED"]["type"] == "password"
    assert result["busy-web"].spec["web"] == {"service": "web", "port": 8080}
    weak = yaml.safe_load(result["weak-db"].compose)
    assert "MYSQL_HOST=db" in weak["services"]["web"]["environment"]  # weak-db_db_1 is the service db


def test_dokploy_details() -> None:
    busy = next(c for c in convert(FIXTURES / "dokploy").converted if c.name == "busy-web")
    settings = {s["key"]: s for s in busy.spec["settings"]}
    assert (settings["APP_SECRET"]["type"], settings["APP_SECRET"]["length"]) == ("password", 36)  # 48 chars
    assert settings["SECOND_SECRET"]["type"] == "password"
    assert settings["MESSAGE"]["default"] == "hello" and settings["COLOR"]["default"] == "blue"
    assert settings["ADMIN_USER"]["default"] == "admin"
    config = yaml.safe_load(busy.compose)
    assert config["services"]["web"]["environment"]["SITE_URL"] == "https://${PUBLIC_DOMAIN}"
    assert "networks" not in config["services"]["web"]  # dokploy-network dropped
    assert busy.spec["website"] == "https://busybox.net" and "logo" not in busy.spec  # a relative logo


def test_coolify_details() -> None:
    result = {c.name: c for c in convert(FIXTURES / "coolify").converted}
    settings = {s["key"]: s for s in result["busy-web"].spec["settings"]}
    assert settings["SERVICE_PASSWORD_64_SESSION"]["length"] == 48
    assert settings["SERVICE_USER_ADMIN"]["default"] == "admin"
    assert settings["SERVICE_FQDN_WEB"]["default"] == "localhost"
    assert settings["SERVICE_URL_WEB"]["default"] == f"http://localhost:{settings['HTTP_PORT']['default']}"
    assert settings["TZ"]["default"] == "Europe/Berlin" and settings["MESSAGE"]["default"] == "hello"
    assert "SERVICE_FQDN_WEB_8080" not in result["busy-web"].compose
    weak = {s["key"]: s for s in result["weak-db"].spec["settings"]}
    assert weak["ADMIN_EMAIL"]["required"] is True  # ${ADMIN_EMAIL:?}
    assert weak["SMTP_PASSWORD"]["type"] == "string" and "default" not in weak["SMTP_PASSWORD"]  # ${…:-}
    assert result["weak-db"].spec["web"] == {"service": "app", "port": 3000}


def test_portainer_details() -> None:
    result = {c.name: c for c in convert(FIXTURES / "portainer-v2").converted}
    settings = {s["key"]: s for s in result["busy-web"].spec["settings"]}
    mode = settings["MODE"]
    assert (mode["type"], mode["choices"], mode["default"]) == ("choice", ["fast", "safe"], "safe")
    assert settings["ADMIN_PASSWORD"]["type"] == "password"  # a weak preset
    config = yaml.safe_load(result["busy-web"].compose)
    assert config["services"]["busy-web"]["environment"]["admin_password"] == "${ADMIN_PASSWORD}"
    assert config["volumes"] == {"www": None}
    assert "Serves /www. Default credentials: none." in result["busy-web"].notes
    stack = {s["key"]: s for s in result["weak-db"].spec["settings"]}
    assert stack["ADMIN_TOKEN"]["type"] == "password" and stack["DB_USER"]["default"] == "app"
    v3 = {c.name: c for c in convert(FIXTURES / "portainer-v3").converted}
    ports = yaml.safe_load(v3["busy-web"].compose)["services"]["busy-web"]["ports"]
    assert ports == ["${HTTP_PORT}:8080", "5353/udp"]
