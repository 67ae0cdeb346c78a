"""Issue 20: one app of each store format, end to end on the real stack. Each hand-made store in
tests/fixtures/stores/ (CasaOS, Runtipi, Umbrel, Dokploy, Coolify, Portainer v2 and v3) is added as
a folder; its busybox web app deploys from `<store>/<name>` and answers on the port it was given;
its privileged entry is skipped naming the policy's rule; its weak literal password became a
generated one that the settings form notes. Real Docker, real Compose."""

from __future__ import annotations

import http.client
import uuid
from typing import Any

import pytest

from tests.harness import Stack, free_port, wait_for
from tests.stores import FIXTURES

STORES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _answers(port: int) -> int | None:
    """The HTTP status the app on `port` answers with (busybox httpd: 200, or 404 for an empty
    folder), or None while nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _web_template(templates: list[dict[str, Any]]) -> dict[str, Any]:
    busy = [t for t in templates if "busy" in t["name"] and t.get("web_service")]
    assert busy, [t["name"] for t in templates]
    return busy[0]


def test_every_fixture_store_is_read() -> None:
    assert set(STORES) >= {
        "casaos",
        "runtipi",
        "umbrel",
        "dokploy",
        "coolify",
        "portainer-v2",
        "portainer-v3",
    }


@pytest.mark.parametrize("fixture", STORES)
def test_a_store_of_each_format_deploys_its_app(
    stack: Stack, admin_token: str, fixture: str, busybox_image: str
) -> None:
    store = f"f{uuid.uuid4().hex[:6]}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/catalog/stores", json={"name": store, "url": str(FIXTURES / fixture)})
        assert r.status_code == 201, r.text
        try:
            detail = r.json()
            assert detail["format"] == fixture.split("-")[0] and detail["templates"] >= 1, detail
            reasons = {s["entry"]: s["reason"] for s in detail["skipped"]}
            privileged = [reason for entry, reason in reasons.items() if "privileged" in entry.lower()]
            assert privileged and "privileged" in privileged[0], reasons
            templates = c.get("/api/v1/catalog", params={"store": store}).json()["templates"]
            weak = [t for t in templates if "weak" in t["name"]]
            if weak:  # every format's fixture has one, unless its converter had to skip it
                notes = c.get(f"/api/v1/catalog/{weak[0]['name']}").json()["notes"]
                assert any("generat" in note for note in notes), notes
            template = c.get(f"/api/v1/catalog/{_web_template(templates)['name']}").json()
            assert template["store"] == store
            settings = {s["key"] for s in template["settings"]}
            assert "HTTP_PORT" in settings, settings
            app, port = f"fa{uuid.uuid4().hex[:8]}", free_port()
            _, deployment = stack.deploy(
                admin_token, {"name": app, "template": template["name"], "settings": {"HTTP_PORT": str(port)}}
            )
            try:
                assert deployment["status"] == "succeeded", deployment
                status = wait_for(
                    lambda: _answers(port), timeout=20, what=f"{template['name']} on port {port}"
                )
                assert status in (200, 403, 404), status
            finally:
                r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
                if r.status_code == 202:
                    stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        finally:
            c.delete(f"/api/v1/catalog/stores/{store}")
