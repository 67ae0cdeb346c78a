"""App stores (issue 20) on the real stack: a store added by URL — a folder, a git repository
(`file://` and `git daemon` on loopback), an archive served over HTTP on loopback — brings its apps
as `<store>/<name>` templates or lists each skipped entry with its reason; an app deployed from one
runs and answers on its port; a refresh that changes its template shows as the app's update
(kind `template`, with a diff) and restarts nothing; removing the store leaves the app running and
editable. Bad URLs, unreachable stores and unknown layouts: a clear error and nothing half-added.
Real Docker, real Compose, busybox images; every format's own store: test_store_formats.py."""

from __future__ import annotations

import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Stack, app_containers, app_of, free_port, wait_for
from tests.stores import archive_server, commit, git_daemon, git_repository, tar_gz, zip_folder

WEB = """name: {name}
services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo {message} > /www/index.html && httpd -f -p 8080 -h /www"]
    ports:
      - target: 8080
        published: "8460"
        protocol: tcp
    environment:
      DB_PASSWORD: changeme
x-casaos:
  main: web
  category: Utilities
  port_map: "8460"
  title:
    en_us: Hello {name}
  description:
    en_us: A web page that says {message}.
"""
PRIVILEGED = """name: rooted
services:
  rooted:
    image: appos-test/busybox:latest
    privileged: true
    command: ["sleep", "3600"]
x-casaos:
  main: rooted
  title:
    en_us: Rooted
"""


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def casaos_store(folder: Path, message: str = "one") -> Path:
    """A CasaOS-layout store: a busybox web page, a privileged app and a broken file."""
    for app, text in (("hello", WEB.format(name="hello", message=message)), ("rooted", PRIVILEGED)):
        (folder / "Apps" / app).mkdir(parents=True, exist_ok=True)
        (folder / "Apps" / app / "docker-compose.yml").write_text(text)
    (folder / "Apps" / "broken").mkdir(exist_ok=True)
    (folder / "Apps" / "broken" / "docker-compose.yml").write_text("services: [unclosed\n")
    return folder


def _add(stack: Stack, token: str, name: str, url: str, **extra: str) -> Any:
    with stack.client(token) as c:
        return c.post("/api/v1/catalog/stores", json={"name": name, "url": url, **extra})


def _store(stack: Stack, token: str, name: str) -> Any:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/catalog/stores/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def _remove(stack: Stack, token: str, name: str) -> None:
    with stack.client(token) as c:
        c.delete(f"/api/v1/catalog/stores/{name}")


def _containers(stack: Stack, app: str) -> set[str]:
    return {c["Id"] for c in app_containers(stack.data / "apps") if app_of(c) == app}


def _page(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            return str(page.read().decode().strip())
    except OSError:
        return None


@pytest.fixture
def store_name(stack: Stack, admin_token: str) -> Iterator[str]:
    name = _name("st")
    yield name
    _remove(stack, admin_token, name)


def test_a_folder_store_brings_its_apps_and_says_what_it_skipped(
    stack: Stack, admin_token: str, store_name: str, tmp_path: Path, busybox_image: str
) -> None:
    folder = casaos_store(tmp_path / "casa")
    r = _add(stack, admin_token, store_name, str(folder))
    assert r.status_code == 201, r.text
    store = r.json()
    assert store["format"] == "casaos" and store["source"] == "folder" and store["templates"] == 1
    assert store["template_names"] == [f"{store_name}/hello"]
    skipped = {s["entry"]: s["reason"] for s in store["skipped"]}
    assert set(skipped) == {"Apps/broken", "rooted"} or set(skipped) == {"Apps/broken", "Apps/rooted"}, (
        skipped
    )
    assert "privileged" in next(reason for entry, reason in skipped.items() if "rooted" in entry)
    assert "broken" in " ".join(skipped) and skipped.get("Apps/broken", "")
    with stack.client(admin_token) as c:
        listed = c.get("/api/v1/catalog/stores").json()["stores"]
        mine = next(s for s in listed if s["name"] == store_name)
        assert mine["templates"] == 1 and mine["skipped"] == 2 and mine["error"] == ""
        catalog = c.get("/api/v1/catalog", params={"store": store_name}).json()["templates"]
        assert [t["name"] for t in catalog] == [f"{store_name}/hello"]
        assert catalog[0]["store"] == store_name
        assert all(
            t["store"] == "builtin"
            for t in c.get("/api/v1/catalog", params={"store": "builtin"}).json()["templates"]
        )
        detail = c.get(f"/api/v1/catalog/{store_name}/hello").json()
    assert "DB_PASSWORD" in detail["compose"] and "changeme" not in detail["compose"]
    assert any("DB_PASSWORD" in note for note in detail["notes"]), detail["notes"]
    keys = {s["key"]: s for s in detail["settings"]}
    assert keys["DB_PASSWORD"]["type"] == "password" and keys["HTTP_PORT"]["type"] == "int"

    # deploy it, reach it, then remove the store: the app runs on and stays editable
    app, port = _name("sa"), free_port()
    body = {"name": app, "template": f"{store_name}/hello", "settings": {"HTTP_PORT": str(port)}}
    created, deployment = stack.deploy(admin_token, body)
    assert deployment["status"] == "succeeded", deployment
    try:
        assert wait_for(lambda: _page(port), timeout=15, what="the store app's page") == "one"
        with stack.client(admin_token) as c:
            assert c.get(f"/api/v1/apps/{app}").json()["template"] == f"{store_name}/hello"
            assert c.delete(f"/api/v1/catalog/stores/{store_name}").status_code == 200
            assert c.get(f"/api/v1/catalog/stores/{store_name}").status_code == 404
            assert c.get(f"/api/v1/catalog/{store_name}/hello").status_code == 404
            assert _page(port) == "one"
            compose = c.get(f"/api/v1/apps/{app}/compose")
            assert compose.status_code == 200
            edited = compose.json()["compose"].replace("echo one", "echo edited")
            r = c.put(
                f"/api/v1/apps/{app}/compose",
                json={"compose": edited, "env": compose.json()["env"]},
                params={"deploy": "true"},
                headers={"If-Match": compose.headers["etag"]},
            )
            assert r.status_code == 200, r.text
        wait_for(lambda: _page(port) == "edited", timeout=60, what="the edited page")
    finally:
        stack.remove_app(admin_token, app)


def test_a_git_store_refresh_shows_a_changed_template_as_an_update_and_restarts_nothing(
    stack: Stack, admin_token: str, store_name: str, tmp_path: Path, busybox_image: str
) -> None:
    repo = git_repository(casaos_store(tmp_path / "casa"), tmp_path / "repos" / "casa")
    with git_daemon(tmp_path / "repos") as base:
        r = _add(stack, admin_token, store_name, f"{base}/casa", format="casaos")
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "git" and r.json()["templates"] == 1
        app, port = _name("sg"), free_port()
        body = {"name": app, "template": f"{store_name}/hello", "settings": {"HTTP_PORT": str(port)}}
        _, deployment = stack.deploy(admin_token, body)
        assert deployment["status"] == "succeeded", deployment
        try:
            before = _containers(stack, app)
            assert before
            (repo / "Apps" / "hello" / "docker-compose.yml").write_text(
                WEB.format(name="hello", message="two")
            )
            commit(repo, "say two")
            with stack.client(admin_token) as c:
                assert c.post(f"/api/v1/catalog/stores/{store_name}/refresh", json={}).status_code == 202
            wait_for(
                lambda: not _store(stack, admin_token, store_name)["refreshing"],
                timeout=120,
                what="the refresh",
            )
            with stack.client(admin_token) as c:
                updates = c.get(f"/api/v1/apps/{app}/updates").json()["updates"]
                template = c.get(f"/api/v1/catalog/{store_name}/hello").json()
            found = [u for u in updates if u["kind"] == "template"]
            assert len(found) == 1, updates
            assert found[0]["image"] == f"{store_name}/hello"
            assert (
                "-" in found[0]["diff"] and "echo two" in found[0]["diff"] and "echo one" in found[0]["diff"]
            )
            assert "echo two" in template["compose"]
            assert (
                _containers(stack, app) == before and _page(port) == "one"
            )  # nothing restarted, nothing redeployed
        finally:
            stack.remove_app(admin_token, app)


def test_file_urls_and_archives_are_stores_too(
    stack: Stack, admin_token: str, tmp_path: Path, busybox_image: str
) -> None:
    folder = casaos_store(tmp_path / "casa")
    repo = git_repository(folder, tmp_path / "repo")
    served = tmp_path / "served"
    served.mkdir()
    tar_gz(folder, served / "casa.tar.gz")
    zip_folder(folder, served / "casa.zip")
    names = []
    try:
        with archive_server(served) as base:
            urls = [
                (f"file://{repo}", "git"),
                (f"{base}/casa.tar.gz", "archive"),
                (f"{base}/casa.zip", "archive"),
            ]
            for url, source in urls:
                name = _name("su")
                names.append(name)
                r = _add(stack, admin_token, name, url)
                assert r.status_code == 201, (url, r.text)
                assert r.json()["source"] == source and r.json()["template_names"] == [f"{name}/hello"]
    finally:
        for name in names:
            _remove(stack, admin_token, name)


def test_bad_stores_are_refused_clearly_and_nothing_is_half_added(
    stack: Stack, admin_token: str, store_name: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    (empty / "stuff").mkdir(parents=True)
    served = tmp_path / "served"
    served.mkdir()
    (served / "junk.tar.gz").write_bytes(b"not an archive")
    with archive_server(served) as base:
        cases = [
            ({"url": "ftp://example.invalid/x"}, 400, "git repository"),
            ({"url": "/no/such/folder"}, 400, "not a folder"),
            ({"url": str(empty)}, 400, "no app store AppOS can read"),
            ({"url": str(empty), "format": "nope"}, 400, "unknown store format"),
            ({"url": f"{base}/missing.tar.gz"}, 400, "404"),
            ({"url": f"{base}/junk.tar.gz"}, 400, "not a readable"),
            ({"url": f"http://127.0.0.1:{free_port()}/gone.zip"}, 400, "could not be reached"),
            ({"url": f"git://127.0.0.1:{free_port()}/gone"}, 400, "git could not fetch"),
            ({"url": f"file://{tmp_path}/no-repo"}, 400, "not a folder"),
        ]
        for extra, status, needle in cases:
            r = _add(stack, admin_token, store_name, **{"url": "", **extra})
            assert r.status_code == status, (extra, r.text)
            assert r.json()["code"] and needle in r.json()["message"], (extra, r.json())
    for bad_name, needle in (("builtin", "reserved"), ("stores", "reserved"), ("Bad_Name", "store name")):
        r = _add(stack, admin_token, bad_name, str(casaos_store(tmp_path / "casa")))
        assert r.status_code == 400 and needle in r.json()["message"], r.text
    with stack.client(admin_token) as c:
        assert store_name not in {s["name"] for s in c.get("/api/v1/catalog/stores").json()["stores"]}
        assert c.get(f"/api/v1/catalog/stores/{store_name}").status_code == 404
    leftovers = (
        [p.name for p in (stack.data / "stores").iterdir()] if (stack.data / "stores").exists() else []
    )
    assert store_name not in leftovers and not [p for p in leftovers if p.startswith(f".{store_name}.")]

    # a name is taken once; a folder with no usable entry is added and says why
    only_bad = tmp_path / "only-bad"
    (only_bad / "Apps" / "rooted").mkdir(parents=True)
    (only_bad / "Apps" / "rooted" / "docker-compose.yml").write_text(PRIVILEGED)
    r = _add(stack, admin_token, store_name, str(only_bad))
    assert r.status_code == 201 and r.json()["templates"] == 0, r.text
    assert "no entry could be used" in r.json()["error"]
    r = _add(stack, admin_token, store_name, str(only_bad))
    assert r.status_code == 409 and "already exists" in r.json()["message"], r.text


def test_a_refresh_that_fails_keeps_the_templates(
    stack: Stack, admin_token: str, store_name: str, tmp_path: Path
) -> None:
    repo = git_repository(casaos_store(tmp_path / "casa"), tmp_path / "repo")
    assert _add(stack, admin_token, store_name, f"file://{repo}").status_code == 201
    shutil.rmtree(repo)  # the repository is gone
    with stack.client(admin_token) as c:
        assert c.post(f"/api/v1/catalog/stores/{store_name}/refresh", json={}).status_code == 202
    store = wait_for(
        lambda: (s := _store(stack, admin_token, store_name)) and not s["refreshing"] and s, timeout=60,
        what="the failed refresh",
    )  # fmt: skip
    assert "the last refresh failed" in store["error"] and "git could not fetch" in store["error"], store
    assert store["template_names"] == [f"{store_name}/hello"]
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/catalog/{store_name}/hello").status_code == 200


def test_only_admins_change_stores_and_nobody_unsigned_sees_them(
    stack: Stack, admin_token: str, tmp_path: Path
) -> None:
    _, operator = stack.make_user(admin_token, "operator")
    _, viewer = stack.make_user(admin_token, "viewer")
    folder = casaos_store(tmp_path / "casa")
    for token in (operator, viewer):
        r = _add(stack, token, _name("no"), str(folder))
        assert r.status_code == 403, r.text
        with stack.client(token) as c:
            assert c.get("/api/v1/catalog/stores").status_code == 200
            assert c.post("/api/v1/catalog/stores/x/refresh", json={}).status_code == 403
            assert c.delete("/api/v1/catalog/stores/x").status_code == 403
    with stack.client() as c:
        assert c.get("/api/v1/catalog/stores").status_code == 401


def test_store_names_in_paths_never_reach_a_file(stack: Stack, admin_token: str, tmp_path: Path) -> None:
    """An admin's GET, refresh and DELETE of /catalog/stores/{name} with a climbing, encoded or
    otherwise bad name: a JSON error (a 404 from the router when the name holds a slash), never a
    file outside the stores' folder touched, and a real store beside it untouched."""
    name = _name("keep")
    assert _add(stack, admin_token, name, str(casaos_store(tmp_path / "casa"))).status_code == 201
    before = sorted(p.name for p in stack.data.iterdir())
    # (a plain `..` or `.` never reaches the server: HTTP clients resolve dot segments first; their
    # encoded forms do)
    bad_names = [
        "%2e%2e", "%2E%2E", ".%2e", "..%2f..%2fsecrets", f"..%2F{name}", f"{name}%2F..", "a%00b",
        "%2e", "%20", "x" * 64, "UPPER",
    ]  # fmt: skip
    try:
        with stack.client(admin_token) as c:
            for bad in bad_names:
                for method, path in (
                    ("GET", f"/api/v1/catalog/stores/{bad}"),
                    ("POST", f"/api/v1/catalog/stores/{bad}/refresh"),
                    ("DELETE", f"/api/v1/catalog/stores/{bad}"),
                ):
                    r = c.request(method, path, json={} if method == "POST" else None)
                    assert r.status_code in (400, 404, 405), (method, bad, r.status_code, r.text)
                    body = r.json()
                    assert body["code"] and body["message"], (method, bad, body)
            assert _store(stack, admin_token, name)["template_names"] == [f"{name}/hello"]
        assert sorted(p.name for p in stack.data.iterdir()) == before
        assert (stack.data / "stores" / name).is_dir()
    finally:
        _remove(stack, admin_token, name)
