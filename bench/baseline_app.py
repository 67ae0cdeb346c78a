"""The baseline of bench/api.py: a bare FastAPI route reading the users table directly from the
same SQLite file, with no auth, no gRPC, no proto. Run as its own process, like the gateway."""

from __future__ import annotations

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

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
