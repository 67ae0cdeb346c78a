"""No secret reaches a log line: passwords, access tokens, API token secrets, the JWT key, hashes."""

from __future__ import annotations

from tests.harness import Stack


def test_no_secret_in_any_log(fresh_stack: Stack) -> None:
    stack = fresh_stack
    admin_password = stack.admin_password()
    access = stack.login()
    secrets = [admin_password, access]
    with stack.client(access) as c:
        api = c.post("/api/v1/tokens", json={"name": "logged?"}).json()["secret"]
        secrets.append(api)
        new_password = "UserPassw0rd-secret"
        c.post("/api/v1/users", json={"username": "quiet", "password": new_password, "role": "viewer"})
        secrets.append(new_password)
        # bad requests that carry secrets must not echo them into logs either
        c.post("/api/v1/users", json={"username": "bad name", "password": "Another-secret-1", "role": "x"})
        secrets.append("Another-secret-1")
    with stack.client() as c:
        c.post("/api/v1/auth/login", json={"username": "quiet", "password": "Wrong-secret-guess"})
        secrets.append("Wrong-secret-guess")
    with stack.client(api) as c:
        assert c.get("/api/v1/auth/me").status_code == 200
    secrets.append((stack.data / "secrets" / "jwt.key").read_text().strip())

    logs = "\n".join(p.read_text(errors="replace") for p in (stack.data / "log").iterdir() if p.is_file())
    assert "created user 'admin'" in logs  # the logs are really there
    for secret in secrets:
        assert secret not in logs
    assert "$argon2" not in logs
