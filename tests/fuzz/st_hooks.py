"""Schemathesis hooks, loaded through SCHEMATHESIS_HOOKS by tests/fuzz/runner.py.

- Binary request bodies of hand-written routes (a backup upload) are sent as the raw bytes generated.
- Outbound targets stay on this machine: any `url` or `host` the fuzzer puts in a body (webhook and
  SMTP notification targets, whatever route gains one later) is pointed at a closed loopback port
  before the request is sent, so nothing AppOS does with it leaves 127.0.0.1. Every other field is
  fuzzed as generated.
- The fuzzer's own accounts (APPOS_FUZZ_PROTECTED_USERS) are not deleted or changed through
  /api/v1/users/{username}: it learns usernames from responses, and deleting or demoting the
  account whose token it runs with ends the run (every later case would be a 401). Other
  usernames, and every other route, are fuzzed.
- Restores never carry `force`: a forced restore of a backup the fuzzer made replaces the database
  and ends every login's session, the fuzzer's own too. Without force the install (it has apps)
  refuses the restore after every check of the archive and the request has run.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

BINARY_MEDIA_TYPES = ["application/gzip", "application/x-gzip", "application/x-tar", "application/zip"]
LOOPBACK_URL = "http://127.0.0.1:9/appos-fuzz"  # port 9 (discard) is closed here: a refused connection
LOOPBACK_HOST = "127.0.0.1"
PROTECTED_USERS = set(filter(None, os.environ.get("APPOS_FUZZ_PROTECTED_USERS", "").split(",")))

schemathesis.serializer.alias(BINARY_MEDIA_TYPES, "application/octet-stream")


def _loopback_only(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "url" and isinstance(item, str):
                out[key] = LOOPBACK_URL
            elif key == "host" and isinstance(item, str):
                out[key] = LOOPBACK_HOST
            else:
                out[key] = _loopback_only(item)
        return out
    if isinstance(value, list):
        return [_loopback_only(item) for item in value]
    return value


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Runs for every case of every phase, right before it is sent."""
    if case.body is not None and not isinstance(case.body, bytes | str):
        case.body = _loopback_only(case.body)
    operation = context.operation
    if (
        operation is not None
        and operation.path.startswith("/api/v1/users/")
        and operation.method.lower() in ("patch", "delete")
        and isinstance(case.path_parameters, dict)
        and case.path_parameters.get("username") in PROTECTED_USERS
    ):
        case.path_parameters = {**case.path_parameters, "username": "fuzz-protected-account"}
    if operation is not None and operation.path == "/api/v1/backups/restore":
        if isinstance(case.body, dict) and "force" in case.body:
            case.body = {**case.body, "force": False}
        if isinstance(case.query, dict) and "force" in case.query:
            case.query = {**case.query, "force": "false"}
