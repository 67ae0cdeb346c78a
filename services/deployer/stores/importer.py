"""One store import, run as its own process (`python -m services.deployer.stores.importer`, the
request as JSON on stdin, the result as JSON on stdout), so parsing a thousand compose files never
grows the deployer that serves the API.

    fetch (sources.py) → convert (formats/) → write each entry's template → check it exactly as an
    app made from it would be checked (Compose, then the compose policy) → store.json

Everything is written into `staging`, a new folder the deployer made; the deployer swaps it in.
An entry that fails anywhere is skipped with its reason; the import itself fails (nothing kept)
only when the store cannot be fetched or its format is not one AppOS reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import AppOSError, InvalidArgument
from services.common.timestamps import now_us
from services.deployer import validation
from services.deployer.catalog import load_template, why
from services.deployer.stores import formats, sources

# the apps folder an entry's check pretends the app lives in: it never exists, nothing is written
_CHECK_APPS_DIR = Path("/nonexistent/appos-store-check")
MAX_REPOSITORIES = 20  # other repositories a Portainer store's stacks may name


@dataclass
class Request:
    name: str
    url: str
    format: str
    kind: str
    store_dir: str  # the store's folder (exists when refreshing)
    staging: str  # a new, empty folder for this import's results
    timeout: float = 600.0
    max_bytes: int = 256 * 1024 * 1024


@dataclass
class Record:
    """store.json: what the last import found."""

    name: str
    url: str
    format: str
    source: str
    refreshed_at: int = 0  # µs since the epoch
    error: str = ""
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry → {digest, notes}
    skipped: list[dict[str, str]] = field(default_factory=list)  # [{entry, reason}]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Record:
        return cls(**json.loads(text))


def digest(folder: Path) -> str:
    hashed = hashlib.sha256()
    for name in ("compose.yaml", "template.json"):
        hashed.update((folder / name).read_bytes())
        hashed.update(b"\0")
    return hashed.hexdigest()


def run(request: Request) -> Record:
    staging = Path(request.staging)
    store_dir = Path(request.store_dir)
    root = _fetch(request, staging, store_dir)
    fmt = request.format or formats.detect(root)
    conversion = formats.convert(root, fmt, fetch_repository=_repositories(staging, request.timeout))
    record = Record(
        name=request.name, url=request.url, format=fmt, source=request.kind, refreshed_at=now_us()
    )
    record.skipped = [{"entry": s.entry, "reason": s.reason} for s in conversion.skipped]
    templates = staging / "templates"
    templates.mkdir()
    seen: set[str] = set()
    to_check: list[tuple[formats.Converted, Path]] = []
    for converted in conversion.converted:
        if converted.name in seen:
            record.skipped.append(
                {"entry": converted.name, "reason": "another entry of the store has the same name"}
            )
            continue
        seen.add(converted.name)
        folder = templates / converted.name
        folder.mkdir()
        (folder / "compose.yaml").write_text(converted.compose)
        (folder / "template.json").write_text(json.dumps(converted.spec, indent=1))
        to_check.append((converted, folder))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        reasons = list(pool.map(lambda item: _refusal(item[1]), to_check))
    for (converted, folder), reason in zip(to_check, reasons, strict=True):
        if reason:
            record.skipped.append({"entry": converted.name, "reason": reason})
            shutil.rmtree(folder)
            continue
        record.templates[converted.name] = {"digest": digest(folder), "notes": list(converted.notes)}
    record.skipped.sort(key=lambda s: s["entry"])
    if not record.templates:
        record.error = (
            f"no entry could be used: all {len(record.skipped)} were skipped (see why below)"
            if record.skipped
            else f"the store has no apps in the {fmt} layout"
        )
    (staging / "store.json").write_text(record.to_json())
    return record


def _fetch(request: Request, staging: Path, store_dir: Path) -> Path:
    if request.kind == sources.GIT:
        existing = store_dir / "source"
        dest = existing if (existing / ".git").is_dir() else staging / "source"
        return sources.fetch_git(request.url, dest, timeout=request.timeout)
    if request.kind == sources.ARCHIVE:
        return sources.fetch_archive(
            request.url, staging / "source", timeout=request.timeout, max_bytes=request.max_bytes
        )
    return sources.folder_of(request.url)


def _repositories(staging: Path, timeout: float) -> Any:
    """Fetches another git repository a store entry names (Portainer stacks), once per URL."""
    fetched: dict[str, Path] = {}

    def fetch(url: str) -> Path:
        if url not in fetched:
            if len(fetched) >= MAX_REPOSITORIES:
                raise InvalidArgument(f"the store names more than {MAX_REPOSITORIES} other repositories")
            if sources.classify(url) != sources.GIT:
                raise InvalidArgument(f"{sources.shown(url)} is not a git repository")
            dest = staging / "repositories" / hashlib.sha256(url.encode()).hexdigest()[:16]
            dest.parent.mkdir(exist_ok=True)
            fetched[url] = sources.fetch_git(url, dest, timeout=timeout)
        return fetched[url]

    return fetch


def _refusal(folder: Path) -> str:
    """Why an app made from this template would be refused, or "" when it would not."""
    try:
        template = load_template(folder)
        env_text, _ = template.render_env({})
    except (ValueError, OSError, AppOSError) as exc:
        return f"the converted template is not valid: {why(exc)}"
    try:
        validation.check(
            name=template.name, compose_text=template.compose, env_text=env_text, allowed=[],
            apps_dir=_CHECK_APPS_DIR,
        )  # fmt: skip
    except AppOSError as exc:
        return f"refused by the checks every app passes: {exc.message}"
    return ""


def main() -> None:
    request = Request(**json.loads(sys.stdin.read()))
    try:
        reply = {"ok": True, "record": asdict(run(request))}
    except formats.UnknownFormat as exc:
        reply = {"ok": False, "error": str(exc)}
    except AppOSError as exc:
        reply = {"ok": False, "error": exc.message}
    sys.stdout.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
