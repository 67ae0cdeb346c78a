"""What every store format shares: the results (`Converted`, `Skipped`), reading a store's files
without leaving its folder, parsing YAML/JSON/TOML with the place of an error, and the small
mappings from a store's words to AppOS's (names, categories, ports).

An entry's converter raises `EntryError` with a plain sentence; `formats.convert()` turns it into a
`Skipped`, so one bad entry never stops the others."""

from __future__ import annotations

import json
import re
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.deployer.catalog import CATEGORIES

MAX_FILE_BYTES = 1 << 20
# A YAML file's values after aliases are expanded: past this the file is a "billion laughs".
MAX_VALUES = 200_000
DEFAULT_CATEGORY = "productivity"
HTTP_PORT = "HTTP_PORT"
PUBLIC_DOMAIN = "PUBLIC_DOMAIN"
# PyYAML's safe loader, in C when libyaml is there (a store may hold thousands of files)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Host ports AppOS uses itself, never a template's default.
_APPOS_PORTS = frozenset({8080, 8081})


@dataclass(frozen=True)
class Converted:
    name: str
    compose: str
    spec: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    entry: str
    reason: str


class EntryError(Exception):
    """Why one entry cannot become a template: a sentence for the store's page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# One entry of a store: its own id or path, and the work that converts it (run lazily, so a store's
# `limit` stops the reading too).
Entry = tuple[str, Callable[[], Converted]]


class Store:
    """A store's folder. Every read stays inside it: a link that leads out is refused, and so is a
    file over 1 MiB."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def is_file(self, path: Path) -> bool:
        return path.is_file() and self.inside(path)

    def folders(self, path: Path) -> list[Path]:
        """The sub-folders of `path` that are no hidden or private (`.git`, `_tests`), by name.
        Links are listed too: reading through one that leads out is refused then."""
        if not path.is_dir() or not self.inside(path):
            return []
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def files(self, path: Path, suffixes: tuple[str, ...]) -> list[Path]:
        if not path.is_dir() or not self.inside(path):
            return []
        return sorted(p for p in path.iterdir() if p.name.endswith(suffixes) and not p.name.startswith("."))

    def first(self, folder: Path, names: tuple[str, ...]) -> Path | None:
        for name in names:
            if (folder / name).is_file() or (folder / name).is_symlink():
                return folder / name
        return None

    def read(self, path: Path) -> str:
        where = self.shown(path)
        if not path.exists() and not path.is_symlink():
            raise EntryError(f"{where} does not exist")
        if not self.inside(path):
            raise EntryError(f"{where} is a link that leads out of the store")
        if not path.is_file():
            raise EntryError(f"{where} is not a file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise EntryError(f"{where} is larger than 1 MiB, so it was not read")
        try:
            return path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EntryError(f"{where} is not UTF-8 text (byte {exc.start})") from exc

    def yaml(self, path: Path) -> Any:
        return parse_yaml(self.read(path), self.shown(path))

    def json(self, path: Path) -> Any:
        return parse_json(self.read(path), self.shown(path))

    def toml(self, path: Path) -> dict[str, Any]:
        try:
            return tomllib.loads(self.read(path))
        except tomllib.TOMLDecodeError as exc:
            raise EntryError(f"{self.shown(path)} is not valid TOML: {exc}") from exc


def parse_yaml(text: str, where: str) -> Any:
    try:
        value = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise EntryError(f"{where} is not valid YAML{at}: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise EntryError(f"{where} is not valid YAML: {exc}") from exc
    _count(value, where)
    return value


def parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EntryError(
            f"{where} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


def _count(value: Any, where: str) -> None:
    """EntryError when aliases make the document larger than MAX_VALUES values (shared nodes are
    counted each time they are reached, as a walk over the document would)."""
    seen = 0
    stack = [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise EntryError(f"{where} expands to more than {MAX_VALUES} values (YAML aliases)")
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)


def mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EntryError(f"{what} is not a mapping")
    return {str(k): v for k, v in value.items()}


def text(value: Any) -> str:
    """A store's text: a plain string, or the English one of a localized mapping (CasaOS writes
    `{en_us: …, zh_cn: …}`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower().replace("-", "_") in ("en_us", "en", "en_gb"):
                return text(item)
        return text(next(iter(value.values()), ""))
    if value is None or isinstance(value, (list, bool)):
        return ""
    return str(value).strip()


def summary(short: Any, long: Any, limit: int = 600) -> str:
    """One or two sentences for the catalog card: the store's tagline, else its description."""
    chosen = text(short) or text(long)
    chosen = re.sub(r"<[^>]+>", "", chosen)
    chosen = " ".join(chosen.split())
    return chosen if len(chosen) <= limit else chosen[: limit - 1].rstrip() + "…"


def plain(note: Any) -> str:
    """A store's note (Portainer's may hold HTML) as one line of text."""
    return " ".join(re.sub(r"<[^>]+>", "", text(note)).split())


def slug(value: str, what: str = "the entry's id") -> str:
    """A DNS label from the store's id: lowercase letters, digits and '-', at most 63."""
    label = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63].rstrip("-")
    if not label:
        raise EntryError(f"{what} {value!r} gives no usable name")
    return label


def url(value: Any) -> str:
    """A web address the dashboard can load, or "" (a store's relative logo path is not one)."""
    found = text(value)
    return found if re.match(r"^https?://\S+$", found) else ""


_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "cms": ("cms", "blog", "blogging", "wiki", "website", "publishing", "content", "forum"),
    "devtools": (
        "development", "developer", "developer-tools", "dev", "devtools", "devops", "code", "coding", "git",
        "ci", "continuous-integration", "programming", "ide", "api", "serverless", "docker", "portainer",
    ),
    "automation": ("automation", "home-automation", "workflow", "smart-home", "iot", "no-code", "low-code"),
    "monitoring": ("monitoring", "metrics", "logging", "logs", "log-management", "observability", "uptime"),
    "security": (
        "security", "password", "password-manager", "passwords", "auth", "authentication", "identity", "vpn",
        "privacy", "secrets", "sso", "2fa", "ad-blocking", "adblock",
    ),
    "storage": (
        "storage", "files", "file", "file-sharing", "cloud", "backup", "sync", "data", "filesystem",
        "file-management", "documents",
    ),
    "analytics": ("analytics", "statistics", "stats", "business-intelligence", "bi"),
    "database": ("database", "databases", "db", "sql", "nosql", "search-engine"),
    "web": (
        "web", "webserver", "web-server", "network", "networking", "proxy", "reverse-proxy", "dns",
        "network-tools",
    ),
    "media": (
        "media", "video", "music", "photos", "photography", "gallery", "streaming", "entertainment", "audio",
        "books", "ebooks", "audiobooks", "podcasts", "movies", "tv", "games", "gaming", "downloader",
        "downloads", "graphic-design",
    ),
    "communication": (
        "communication", "chat", "social", "messaging", "email", "mail", "notifications", "voip", "matrix",
        "marketing",
    ),
    "productivity": (
        "productivity", "utilities", "utility", "office", "notes", "finance", "project-management", "tools",
        "crypto", "bitcoin", "ai", "education",
    ),
}  # fmt: skip
_CATEGORY = {word: category for category, words in _CATEGORY_WORDS.items() for word in words}
assert set(_CATEGORY_WORDS) <= set(CATEGORIES)


def category(words: Any) -> str:
    """The AppOS category of a store's categories or tags (a word, or a list of them): the first
    one AppOS knows, else "productivity"."""
    items = words if isinstance(words, list) else [words]
    for item in items:
        word = re.sub(r"[\s_/&]+", "-", text(item).lower()).strip("-")
        if word in _CATEGORY:
            return _CATEGORY[word]
        for part in word.split("-"):
            if part in _CATEGORY:
                return _CATEGORY[part]
    return DEFAULT_CATEGORY


def http_port_default(name: str, store_port: Any = None) -> int:
    """The HTTP_PORT setting's default: the store's own port when it is a usable one, else a port
    from 8200 up that depends on the name (so two entries rarely share one)."""
    try:
        port = int(str(store_port))
    except ValueError:
        port = 0
    if 1024 < port < 65536 and port not in _APPOS_PORTS:
        return port
    return 8200 + zlib.crc32(name.encode()) % 700


def port_number(value: Any) -> int:
    """A container port from a store's file (`80`, "80", "80/tcp"), or 0."""
    match = re.fullmatch(r"\s*(\d{1,5})(?:/(?:tcp|TCP))?\s*", str(value))
    number = int(match.group(1)) if match else 0
    return number if 0 < number < 65536 else 0
