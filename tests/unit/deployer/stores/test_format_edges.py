"""What a store can do wrong, or at scale: links out of the store, huge files, YAML bombs, broken
indexes, repeated names, more entries than the limit, stacks in other repositories; and the
helpers that read variables and secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from services.deployer.settings import REPO_ROOT
from services.deployer.stores.formats import convert
from services.deployer.stores.formats.common import EntryError
from services.deployer.stores.formats.variables import Settings, interpolate, secret_key, weak

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "stores"
WEB = """\
name: {name}
services:
  web:
    image: appos-test/busybox:latest
    command: ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    ports: ["8150:8080"]
    volumes: ["/DATA/AppData/$AppID/www:/www"]
x-casaos:
  main: web
  title: {{en_us: {name}}}
  port_map: "8150"
"""


def _casaos(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / "Apps" / name).mkdir(parents=True)
        (root / "Apps" / name / "docker-compose.yml").write_text(WEB.format(name=name))
    return root


def _skipped(root: Path, **options: object) -> dict[str, str]:
    return {s.entry: s.reason for s in convert(root, **options).skipped}  # type: ignore[arg-type]


def test_links_out_of_the_store_are_not_followed(tmp_path: Path) -> None:
    store = _casaos(tmp_path / "store", ["inside"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "docker-compose.yml").write_text(WEB.format(name="secret"))
    (store / "Apps" / "file-link").mkdir()
    (store / "Apps" / "file-link" / "docker-compose.yml").symlink_to(outside / "docker-compose.yml")
    (store / "Apps" / "folder-link").symlink_to(outside)
    (store / "Apps" / "zz-inner-link").mkdir()
    (store / "Apps" / "zz-inner-link" / "docker-compose.yml").symlink_to(
        store / "Apps/inside/docker-compose.yml"
    )
    result = convert(store)
    skipped = {s.entry: s.reason for s in result.skipped}
    assert "leads out of the store" in skipped["Apps/file-link"]
    assert "leads out of the store" in skipped["Apps/folder-link"]
    # a link inside the store is read; the entry then repeats the name of the one it points at
    assert [c.name for c in result.converted] == ["inside"]
    assert "already has the name inside" in skipped["Apps/zz-inner-link"]


def test_files_over_one_mib_are_not_read(tmp_path: Path) -> None:
    store = _casaos(tmp_path, ["small", "big"])
    big = store / "Apps" / "big" / "docker-compose.yml"
    big.write_text(WEB.format(name="big") + "# " + "x" * (1 << 20) + "\n")
    assert "larger than 1 MiB" in _skipped(store)["Apps/big"]


def test_yaml_alias_bombs_are_refused(tmp_path: Path) -> None:
    store = _casaos(tmp_path, ["fine"])
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (store / "Apps" / "bomb").mkdir()
    (store / "Apps" / "bomb" / "docker-compose.yml").write_text("\n".join(lines) + "\nservices: {}\n")
    assert "expands to more than" in _skipped(store)["Apps/bomb"]


def test_one_broken_entry_never_stops_the_rest(tmp_path: Path) -> None:
    store = _casaos(tmp_path, ["one", "two"])
    (store / "Apps" / "empty").mkdir()
    (store / "Apps" / "empty" / "docker-compose.yml").write_text("x-casaos: {}\n")
    (store / "Apps" / "noimage").mkdir()
    (store / "Apps" / "noimage" / "docker-compose.yml").write_text("services:\n  web:\n    command: [true]\n")
    (store / "Apps" / "list").mkdir()
    (store / "Apps" / "list" / "docker-compose.yml").write_text("- just\n- a list\n")
    (store / "Apps" / "binary").mkdir()
    (store / "Apps" / "binary" / "docker-compose.yml").write_bytes(b"services:\n  \xff\xfe\n")
    result = convert(store)
    assert [c.name for c in result.converted] == ["one", "two"]
    skipped = {s.entry: s.reason for s in result.skipped}
    assert skipped["Apps/empty"] == "the compose file defines no services"
    assert skipped["Apps/noimage"] == "service web names no image"
    assert skipped["Apps/list"].endswith("is not a mapping")
    assert "is not UTF-8 text" in skipped["Apps/binary"]


def test_limit_stops_reading(tmp_path: Path) -> None:
    store = _casaos(tmp_path, [f"app-{i:02}" for i in range(12)])
    result = convert(store, limit=10)
    assert len(result.converted) == 10
    assert [s.reason for s in result.skipped] == [
        "the store has more than 10 entries; the rest were not read"
    ]


def test_a_thousand_entries_convert(tmp_path: Path) -> None:
    store = _casaos(tmp_path, [f"app-{i:04}" for i in range(1000)])
    result = convert(store)
    assert len(result.converted) == 1000 and not result.skipped
    assert len({c.name for c in result.converted}) == 1000


def _portainer_v3(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / "portainer-v3", store)
    return store


def test_a_stack_in_another_repository_is_read_through_fetch_repository(tmp_path: Path) -> None:
    store = _portainer_v3(tmp_path)
    repository = tmp_path / "fetched"
    (repository / "compose").mkdir(parents=True)
    shutil.copy(store / "stacks/busy-pair/docker-compose.yml", repository / "compose/docker-compose.yml")
    asked: list[str] = []

    def fetch(url: str) -> Path:
        asked.append(url)
        return repository

    result = convert(store, fetch_repository=fetch)
    assert "fetched-stack" in [c.name for c in result.converted]
    assert asked == ["https://github.com/example/fetched"]

    def fail(url: str) -> Path:
        raise RuntimeError("git clone failed: repository not found")

    reason = _skipped(store, fetch_repository=fail)["#4 Fetched stack"]
    assert reason == (
        "the stack's compose file is in another repository (https://github.com/example/fetched), "
        "which could not be read: git clone failed: repository not found"
    )


def test_file_urls_inside_the_store_are_read_and_outside_are_not(tmp_path: Path) -> None:
    store = _portainer_v3(tmp_path)
    index = json.loads((store / "templates.json").read_text())
    index["templates"][2]["repository"]["url"] = (store / "stacks").as_uri()
    index["templates"][3]["repository"] = {"url": tmp_path.as_uri(), "stackfile": "store/templates.json"}
    (store / "templates.json").write_text(json.dumps(index))
    result = convert(store)
    assert "busy-pair" in [c.name for c in result.converted]
    assert "could not be read" in {s.entry: s.reason for s in result.skipped}["#4 Fetched stack"]


def test_a_broken_portainer_index_is_one_skipped_entry(tmp_path: Path) -> None:
    (tmp_path / "templates.json").write_text('{"version": "2", "templates": [\n  {"type": 1,}\n]}\n')
    assert _skipped(tmp_path) == {"templates.json": "templates.json is not valid JSON at line 2, column 14: "
                                  "Expecting property name enclosed in double quotes"}  # fmt: skip
    (tmp_path / "templates.json").write_text('[{"type": 1, "title": "old", "image": "x:1"}]')
    assert "version 1 of Portainer's templates" in _skipped(tmp_path)["templates.json"]


def test_a_broken_dokploy_index_still_converts_the_blueprints(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / "dokploy", store)
    (store / "meta.json").write_text("[{")
    result = convert(store)
    assert "not valid JSON" in {s.entry: s.reason for s in result.skipped}["meta.json"]
    busy = next(c for c in result.converted if c.name == "busy-web")
    assert busy.spec["title"] == "busy-web"  # no metadata: the folder's name


def test_runtipi_unavailable_and_unknown_dynamic_keys(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / "runtipi", store)
    config = json.loads((store / "apps/busy-web/config.json").read_text())
    (store / "apps/busy-web/config.json").write_text(json.dumps(config | {"available": False}))
    dynamic = json.loads((store / "apps/privileged-tool/docker-compose.json").read_text())
    dynamic["services"][0]["gpus"] = "all"
    (store / "apps/privileged-tool/docker-compose.json").write_text(json.dumps(dynamic))
    skipped = _skipped(store)
    assert skipped["apps/busy-web"] == "the store marks it unavailable"
    assert (
        skipped["apps/privileged-tool"]
        == "docker-compose.json: service privileged-tool uses gpus, unknown to AppOS"
    )


def test_umbrel_proxy_pointing_nowhere(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / "umbrel", store)
    compose = yaml.safe_load((store / "busy-web/docker-compose.yml").read_text())
    compose["services"]["app_proxy"]["environment"]["APP_HOST"] = "busy-web_missing_1"
    (store / "busy-web/docker-compose.yml").write_text(yaml.safe_dump(compose))
    assert (
        _skipped(store)["busy-web"]
        == "app_proxy points at busy-web_missing_1, which is no service of the app"
    )


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("DB_PASSWORD", True), ("MYSQL_ROOT_PASSWORD", True), ("APP_SECRET", True), ("API_TOKEN", True),
        ("SECRET_KEY", True), ("database__connection__password", True), ("PASS", True),
        ("DBPASSWORD", True), ("PUBLIC_KEY", False), ("SSH_KEY_FILE", False), ("PASSWORD_FILE", False),
        ("PASSWORD_MIN_LENGTH", False), ("DB_USER", False), ("BYPASS_CACHE", False),
        ("KEYCLOAK_URL", False), ("TOKEN_TTL", False),
    ],
)  # fmt: skip
def test_secret_key(key: str, secret: bool) -> None:
    assert secret_key(key) is secret


@pytest.mark.parametrize(
    ("value", "is_weak"),
    [
        ("changeme", True), ("tipi", True), ("123456", True), ("ChangeMe-Please-Now-123", True),
        (123456, True), ("moneyprintergobrrr", True), ("k3Jd9sLq0pX7vB2nR5tY", False),
        ("${DB_PASSWORD}", False), ("", False), ("true", False), (None, False),
    ],
)  # fmt: skip
def test_weak(value: object, is_weak: bool) -> None:
    assert weak(value) is is_weak


def test_interpolate() -> None:
    settings = Settings()

    def resolve(name: str) -> str | None:
        return "my-app" if name == "AppID" else None

    text = "${A:-one} ${B:?set it} $C $$D ${E-two} /data/$AppID ${F:-} 100$"
    assert interpolate(text, settings, resolve) == "${A} ${B} ${C} $$D ${E} /data/my-app ${F} 100$$"
    specs = {s["key"]: s for s in settings.specs({"A", "B", "C", "E", "F"})}
    assert specs["A"]["default"] == "one" and specs["E"]["default"] == "two"
    assert specs["B"]["required"] is True and "default" not in specs["C"] and "default" not in specs["F"]
    assert interpolate("${db_pass:-changeme}", settings, resolve) == "${DB_PASS}"
    assert (
        settings.specs({"DB_PASS"})[0]["type"] == "password"
        and "default" not in settings.specs({"DB_PASS"})[0]
    )
    assert settings.notes == [
        "DB_PASS: the store's file set a fixed password ('changeme'); AppOS generates one instead."
    ]
    for bad in ("${A:+x}", "${A:-${B}}", "${A", "${1A}"):
        with pytest.raises(EntryError):
            interpolate(bad, Settings(), resolve)
