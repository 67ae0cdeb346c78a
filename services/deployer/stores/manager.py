"""The deployer's side of the app stores: add, refresh and remove a store, and keep the catalog's view
of each store's templates equal to its folder.

An import runs in its own process (importer.py) into a staging folder next to the stores; the result
is swapped in with renames, so a failed add leaves no store behind and a failed refresh leaves the
store's templates as they were (its `error` says what went wrong). One operation per store at a time.
"""

from __future__ import annotations

import difflib
import json
import logging
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from appos.v1 import state_pb2
from services.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from services.common.names import validate_dns_label
from services.common.state_client import StateClient
from services.deployer.catalog import BUILTIN, Catalog, Template, load_template, why
from services.deployer.settings import REPO_ROOT, DeployerSettings
from services.deployer.stores import formats, sources
from services.deployer.stores.importer import Record, Request

logger = logging.getLogger(__name__)

RESERVED = (BUILTIN, "stores")
STORE_REFRESHED = "store_refreshed"
MAX_STORES = 50
# What a refresh found: the store's new record, and each changed entry's diff (old → new).
OnRefreshed = Callable[[Record, dict[str, str]], None]


class Stores:
    def __init__(
        self, settings: DeployerSettings, catalog: Catalog, on_refreshed: OnRefreshed | None = None
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.root = settings.stores_dir
        self.on_refreshed = on_refreshed
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # stores an add, refresh or removal is working on

    # --- start ---

    def load_all(self) -> None:
        """The catalog's view of every store on disk; leftovers of imports cut short are removed."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in sorted(self.root.iterdir()):
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)  # a staging folder of an import cut short
                continue
            try:
                self._publish(self.record(path.name))
            except (OSError, ValueError, TypeError, NotFound) as exc:
                logger.error("store %s left out: %s", path.name, exc)

    # --- reading ---

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "store.json").is_file())

    def record(self, name: str) -> Record:
        if name in RESERVED:
            raise NotFound(f"store {name!r} does not exist")
        path = self.root / validate_dns_label(name, what="store name") / "store.json"
        try:
            return Record.from_json(path.read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"store {name!r} does not exist") from exc

    def refreshing(self, name: str) -> bool:
        with self._lock:
            return name in self._busy

    # --- changing ---

    def add(self, *, name: str, url: str, format: str) -> Record:
        name = validate_dns_label(name.strip(), what="store name")
        if name in RESERVED:
            raise InvalidArgument(f"{name!r} is a reserved store name; choose another")
        url = url.strip()
        kind = sources.classify(url)
        format = self._format(format)
        if len(self.names()) >= MAX_STORES:
            raise InvalidArgument(f"AppOS keeps at most {MAX_STORES} stores; remove one first")
        with self._claim(name):
            if (self.root / name).exists():
                raise AlreadyExists(f"a store named {name!r} already exists")
            staging = self._staging(name)
            try:
                record = self._import(Request(
                    name=name, url=url, format=format, kind=kind, store_dir=str(self.root / name),
                    staging=str(staging), timeout=self.settings.store_import_timeout_seconds,
                    max_bytes=self.settings.store_max_archive_bytes,
                ))  # fmt: skip
                staging.rename(self.root / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self._publish(record)
            logger.info(
                "store %s added: %d templates, %d skipped", name, len(record.templates), len(record.skipped)
            )
            return record

    def start_refresh(self, name: str) -> Record:
        """Starts a refresh in the background and returns the store as it is now (409 while busy)."""
        record = self.record(name)
        with self._lock:
            if name in self._busy:
                raise Conflict(f"store {name!r} is already being refreshed or removed; wait until it ends")
            self._busy.add(name)
        threading.Thread(
            target=self._refresh, args=(record,), name=f"store-refresh-{name}", daemon=True
        ).start()
        return record

    def remove(self, name: str) -> None:
        self.record(name)  # NotFound first
        with self._claim(name):
            trash = self._staging(name)
            (self.root / name).rename(trash / "old")
            self.catalog.drop_store(name)
            shutil.rmtree(trash, ignore_errors=True)
        logger.info("store %s removed; apps made from its templates keep their files", name)

    # --- inside ---

    def _format(self, format: str) -> str:
        format = format.strip().lower()
        if format and format not in formats.FORMATS:
            raise InvalidArgument(
                f"unknown store format {format!r}; use one of: {', '.join(formats.FORMATS)}"
            )
        return format

    def _claim(self, name: str) -> _Claim:
        return _Claim(self, name)

    def _staging(self, name: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.root / f".{name}.{secrets.token_hex(4)}"
        staging.mkdir(mode=0o700)
        return staging

    def _import(self, request: Request) -> Record:
        """Runs importer.py; its record, or InvalidArgument with why the store could not be read."""
        try:
            done = subprocess.run(
                [sys.executable, "-m", "services.deployer.stores.importer"],
                input=json.dumps(asdict(request)), capture_output=True, text=True,
                timeout=request.timeout + 30, cwd=REPO_ROOT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise InvalidArgument(f"reading the store took longer than {int(request.timeout)} s") from exc
        lines = done.stdout.strip().splitlines()
        try:
            reply = json.loads(lines[-1]) if lines else {}
        except ValueError:
            reply = {}
        if not reply:
            logger.error(
                "store import of %s failed (exit %s): %s", request.name, done.returncode, done.stderr[-2000:]
            )
            raise InvalidArgument("reading the store failed unexpectedly; the deployer's log says why")
        if not reply.get("ok"):
            raise InvalidArgument(f"store {request.name!r} could not be read: {reply.get('error', '')}")
        return Record(**reply["record"])

    def _refresh(self, before: Record) -> None:
        name = before.name
        changed: dict[str, str] = {}
        try:
            kind = before.source  # what it was when added: a repository that went away is said so by git
            staging = self._staging(name)
            try:
                record = self._import(Request(
                    name=name, url=before.url, format=before.format, kind=kind,
                    store_dir=str(self.root / name), staging=str(staging),
                    timeout=self.settings.store_import_timeout_seconds,
                    max_bytes=self.settings.store_max_archive_bytes,
                ))  # fmt: skip
                changed = _changes(before, record, self.root / name / "templates", staging / "templates")
                self._swap(name, staging)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except Exception as exc:  # whatever it was, the store keeps its templates and says why
            message = getattr(exc, "message", None) or str(exc)
            logger.warning(
                "refresh of store %s failed: %s", name, message, exc_info=not isinstance(exc, InvalidArgument)
            )
            record = replace(
                before, error=f"the last refresh failed, the templates are the previous ones: {message}"
            )
            self._write_record(name, record)
        else:
            self._publish(record)
        try:
            if self.on_refreshed is not None:
                self.on_refreshed(record, changed)
        except Exception:
            logger.exception("after the refresh of store %s", name)
        finally:  # the store is busy until its changes and event are recorded
            with self._lock:
                self._busy.discard(name)

    def _swap(self, name: str, staging: Path) -> None:
        """The staging folder's templates, store.json (and unpacked archive) replace the store's."""
        store = self.root / name
        old = staging / "old"
        old.mkdir()
        for part in ("templates", "source"):
            if (staging / part).exists():
                if (store / part).exists():
                    (store / part).rename(old / part)
                (staging / part).rename(store / part)
        (staging / "store.json").replace(store / "store.json")

    def _write_record(self, name: str, record: Record) -> None:
        path = self.root / name / "store.json"
        temporary = path.with_name(f".store.json.{secrets.token_hex(4)}")
        temporary.write_text(record.to_json())
        temporary.replace(path)

    def _publish(self, record: Record) -> None:
        """The store's templates as the catalog lists them: `<store>/<entry>`, with their notes."""
        folder = self.root / record.name / "templates"
        templates: list[Template] = []
        for entry, found in sorted(record.templates.items()):
            try:
                template = load_template(folder / entry)
            except (ValueError, OSError, InvalidArgument) as exc:
                logger.error("template %s of store %s left out: %s", entry, record.name, why(exc))
                continue
            templates.append(
                replace(
                    template,
                    name=f"{record.name}/{entry}",
                    store=record.name,
                    notes=tuple(found.get("notes", ())),
                )
            )
        self.catalog.set_store(record.name, templates)


def _changes(before: Record, after: Record, old: Path, new: Path) -> dict[str, str]:
    """The entries kept by both imports whose files differ, each with a unified diff old → new."""
    changed = {}
    for entry, found in sorted(after.templates.items()):
        if entry not in before.templates or before.templates[entry]["digest"] == found["digest"]:
            continue
        lines: list[str] = []
        for part in ("compose.yaml", "template.json"):
            try:
                was = (old / entry / part).read_text().splitlines(keepends=True)
            except OSError:
                was = []
            now = (new / entry / part).read_text().splitlines(keepends=True)
            lines += difflib.unified_diff(was, now, f"a/{entry}/{part}", f"b/{entry}/{part}")
        changed[entry] = "".join(lines)
    return changed


def refreshed_event(state: StateClient) -> OnRefreshed:
    """When a refresh ends: each app made from a changed template gets a `template` update (state),
    then `store_refreshed` on the events stream (the console's Stores page and catalog follow it),
    naming the templates that changed."""

    def append(record: Record, changed: dict[str, str]) -> None:
        names = {f"{record.name}/{entry}": diff for entry, diff in changed.items()}
        if names:
            state.stub.RecordTemplateChanges(
                state_pb2.StateRecordTemplateChangesRequest(
                    changes=[state_pb2.StateTemplateChange(template=t, diff=d) for t, d in names.items()],
                    actor="system",
                )
            )
        payload = {
            "store": record.name, "templates": len(record.templates), "skipped": len(record.skipped),
            "error": record.error, "changed": sorted(names),
        }  # fmt: skip
        state.stub.AppendEvent(
            state_pb2.StateAppendEventRequest(
                type=STORE_REFRESHED, subject=record.name, actor="system", payload_json=json.dumps(payload)
            )
        )

    return append


class _Claim:
    """One add or removal of a store at a time (and none while it refreshes)."""

    def __init__(self, stores: Stores, name: str) -> None:
        self.stores, self.name = stores, name

    def __enter__(self) -> None:
        with self.stores._lock:
            if self.name in self.stores._busy:
                raise Conflict(f"store {self.name!r} is busy (being added, refreshed or removed); try again")
            self.stores._busy.add(self.name)

    def __exit__(self, *exc: object) -> None:
        with self.stores._lock:
            self.stores._busy.discard(self.name)
