from __future__ import annotations

from services.gateway.app import openapi_document
from services.gateway.http_rules import PUBLIC_FILES, public_routes


def test_every_public_method_has_a_route_and_an_access_rule() -> None:
    routes = public_routes()
    methods = {m.full_name for f in PUBLIC_FILES for s in f.services_by_name.values() for m in s.methods}
    # bridged by hand in gateway/streams.py and gateway/backup_routes.py
    streams = {"appos.v1.Apps.GetAppLogs", "appos.v1.Backups.DownloadBackup"}
    assert {r.method.full_name for r in routes} == methods - streams
    public = {r.full_name for r in routes if r.public}
    assert public == {"appos.v1.Auth.Login", "appos.v1.System.GetHealth"}
    assert all(r.min_role in ("viewer", "operator", "admin") for r in routes)


def test_internal_services_are_not_public() -> None:
    names = {r.method.containing_service.full_name for r in public_routes()}
    assert "appos.v1.State" not in names


def test_mutations_need_more_than_viewer_except_own_password_and_sign_out() -> None:
    own = {"appos.v1.Auth.ChangePassword", "appos.v1.Auth.Logout"}  # a viewer's own account and session
    own |= {f"appos.v1.Auth.{m}" for m in ("BeginTotpSetup", "ConfirmTotpSetup", "DisableTotp")}  # own 2FA
    for route in public_routes():
        if route.verb != "get" and not route.public and route.full_name not in own:
            assert route.min_role in ("operator", "admin"), route.full_name


def test_openapi_matches_the_routes() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    operations = {(path, verb) for path, item in document["paths"].items() for verb in item}
    hand_written = {
        ("/api/v1/events", "get"),
        ("/api/v1/apps/{app}/logs", "get"),
        ("/api/v1/backups/{id}/download", "get"),
        ("/api/v1/backups/upload", "post"),
    }
    assert operations == {(r.path, r.verb) for r in public_routes()} | hand_written
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"username", "password", "totp_code", "recovery_code"}
    assert body["additionalProperties"] is False
    update = document["paths"]["/api/v1/users/{username}"]["patch"]
    assert [p["name"] for p in update["parameters"]] == ["username"]
    assert "username" not in update["requestBody"]["content"]["application/json"]["schema"]["properties"]
    schemas = document["components"]["schemas"]
    assert schemas["User"]["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    assert "503" in document["paths"]["/health"]["get"]["responses"]
    for path_item in document["paths"].values():
        for op in path_item.values():
            for ref in (
                r["content"]["application/json"]["schema"] for r in op["responses"].values() if "content" in r
            ):
                if "$ref" in ref:
                    assert ref["$ref"].split("/")[-1] in schemas
