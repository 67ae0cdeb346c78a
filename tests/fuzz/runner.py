"""Schemathesis against a running stack's own OpenAPI document (/openapi.json), so every route,
including ones added later, is fuzzed without a list kept here.

The document is taken as the stack serves it, minus the few things that cannot be fuzzed as
request/response pairs (EXCLUDED: each with its reason). Known ids (apps, users, deployments,
versions, domains) are offered as dictionaries with a probability, so the fuzzer reaches the
services' logic instead of stopping at 404s, and still sends arbitrary values half of the time.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# (path, method or "*" for the whole path, query parameter or "" for the operation): why.
EXCLUDED: dict[tuple[str, str, str], str] = {
    (
        "/api/v1/events",
        "get",
        "",
    ): "an endless server-sent event stream; tests/integration/test_events.py covers it",
    ("/api/v1/apps/{app}/logs", "get", "follow"): "follow=true streams until the app stops",
    (
        "/api/v1/auth/logout",
        "post",
        "",
    ): "signs out the session the fuzzer runs with; tests/integration/test_auth.py covers it",
    (
        "/api/v1/system/rotate-signing-key",
        "post",
        "",
    ): "ends every session, the fuzzer's own; tests/integration/test_signing_key.py covers it",
}


def excluded_operations() -> int:
    """How many whole operations EXCLUDED leaves out."""
    return sum(1 for (_path, method, param) in EXCLUDED if not param and method != "*")


# A tiny valid raw-compose app: no ports and no network of its own, so it clashes with nothing on
# the shared Docker engine and uses none of its (limited) network address pools.
BUSYBOX_COMPOSE = (
    "services:\n  main:\n    image: appos-test/busybox:latest\n    pull_policy: never\n"
    '    network_mode: none\n    init: true\n    command: ["sleep", "3600"]\n'
)


@dataclass
class FuzzResult:
    generated: int
    failures: list[dict[str, Any]]
    errors: list[Any]
    operations: int
    output: str
    exit_code: int


def served_document(url: str, token: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    document: dict[str, Any] = r.json()
    return document


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The served document without EXCLUDED operations and parameters."""
    doc = copy.deepcopy(document)
    for (path, method, param), _reason in EXCLUDED.items():
        operations = doc["paths"].get(path)
        if operations is None:
            continue
        if not param:
            if method == "*":
                del doc["paths"][path]
            else:
                operations.pop(method, None)
                if not operations:
                    del doc["paths"][path]
        elif method in operations:
            operation = operations[method]
            operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"] != param]
    return doc


def operation_count(document: dict[str, Any]) -> int:
    return sum(len(ops) for ops in document["paths"].values())


def write_config(path: Path, known: dict[str, list[Any]]) -> None:
    """schemathesis.toml: dictionaries of known values, used with a probability per parameter."""
    dictionaries = {name: {"values": values} for name, values in known.items() if values}
    bindings = {
        "path.app": "apps",
        "query.app": "apps",
        "body.app": "apps",
        "path.template": "templates",
        "path.username": "users",
        "path.id": "ids",
        "path.number": "numbers",
        "query.against": "numbers",
        "body.version": "numbers",
        "path.domain": "domains",
        "body.compose": "composes",
    }
    parameters = {
        key: {"dictionary": name, "probability": 0.5}
        for key, name in bindings.items()
        if name in dictionaries
    }
    path.write_text(tomli_w.dumps({"dictionaries": dictionaries, "parameters": parameters}))


def run(
    *,
    url: str,
    token: str,
    workdir: Path,
    examples: int,
    seed: int,
    known: dict[str, list[Any]],
    label: str,
    protected_users: tuple[str, ...] = ("admin",),
    phases: str = "examples,coverage,fuzzing",
    workers: int = 1,
    timeout: float = 1800,
) -> FuzzResult:
    """One schemathesis run (examples, coverage and fuzzing phases) as the token's user.

    One worker: schemathesis's threads hit a CPython 3.11 bug in `ast.parse` ("AST constructor
    recursion depth mismatch") when hypothesis describes a strategy; the server is the bottleneck
    on two cores anyway."""
    workdir.mkdir(parents=True, exist_ok=True)
    document = fuzzable(served_document(url, token))
    schema = workdir / f"openapi-{label}.json"
    schema.write_text(json.dumps(document))
    config = workdir / f"schemathesis-{label}.toml"
    write_config(config, known)
    reports = workdir / f"report-{label}"
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--no-color", "--config-file", str(config), "run", str(schema),
        "--url", url, "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--phases", phases,
        "--max-examples", str(examples), "--seed", str(seed),
        "--workers", str(workers), "--request-timeout", "60", "--continue-on-failure",
        "--suppress-health-check", "all", "--warnings", "off",
        "--report", "json", "--report-dir", str(reports),
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.st_hooks",
        "APPOS_FUZZ_PROTECTED_USERS": ",".join(protected_users),
    }
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    output = done.stdout + done.stderr
    found = sorted(glob.glob(str(reports / "json-*.json")))
    assert found, f"schemathesis wrote no report (exit {done.returncode}):\n{output[-5000:]}"
    report = json.loads(Path(found[-1]).read_text())
    return FuzzResult(
        generated=int(report["test_cases"]["generated"]),
        failures=list(report["failures"]),
        errors=list(report["errors"]),
        operations=int(report["operations"]["tested"]),
        output=output,
        exit_code=done.returncode,
    )
