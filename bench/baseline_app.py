"""The baseline of bench/api.py: bare FastAPI routes reading the users table, and the apps table
joined with each app's newest deployment, directly from the same SQLite file, with no auth, no
gRPC, no proto. Run as its own process, like the gateway."""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text


def make_app(db_path: str) -> FastAPI:
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"check_same_thread": False})
    app = FastAPI()

    @app.get("/users")
    def users(page_size: int = 50) -> dict[str, Any]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, username, role, disabled, created_at, updated_at FROM users "
                    "ORDER BY username LIMIT :n"
                ),
                {"n": page_size},
            ).mappings()
            return {
                "users": [
                    {
                        "id": r["id"],
                        "username": r["username"],
                        "role": r["role"],
                        "disabled": bool(r["disabled"]),
                        "created_at": str(r["created_at"]),
                        "updated_at": str(r["updated_at"]),
                    }
                    for r in rows
                ],
                "next_page_token": "",
            }

    @app.get("/apps")
    def apps() -> dict[str, Any]:
        """Each app's row (its containers' status in services_json) and its newest deployment."""
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.name, a.template, a.status, a.status_message, a.services_json, "
                    "a.current_version, a.created_at, a.updated_at, a.web_service, a.web_port, "
                    "a.auto_rollback, a.last_good_version, a.policy_exceptions_json, d.id AS d_id, "
                    "d.action, d.status AS d_status, d.reason, d.version, d.actor, d.created_at AS "
                    "d_created_at, d.finished_at FROM apps a LEFT JOIN deployments d ON d.id = ("
                    "SELECT x.id FROM deployments x WHERE x.app = a.name "
                    "ORDER BY x.created_at DESC, x.id DESC LIMIT 1) ORDER BY a.name"
                )
            ).mappings()
            return {
                "apps": [
                    {
                        "name": r["name"],
                        "template": r["template"],
                        "status": r["status"],
                        "status_message": r["status_message"],
                        "services": json.loads(r["services_json"]),
                        "current_version": r["current_version"],
                        "created_at": str(r["created_at"]),
                        "updated_at": str(r["updated_at"]),
                        "web_service": r["web_service"],
                        "web_port": r["web_port"],
                        "auto_rollback": bool(r["auto_rollback"]),
                        "last_good_version": r["last_good_version"],
                        "policy_exceptions": json.loads(r["policy_exceptions_json"]),
                        "last_deployment": {
                            "id": r["d_id"],
                            "action": r["action"],
                            "status": r["d_status"],
                            "reason": r["reason"],
                            "version": r["version"],
                            "actor": r["actor"],
                            "created_at": str(r["d_created_at"]),
                            "finished_at": str(r["finished_at"]),
                        },
                    }
                    for r in rows
                ]
            }

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
