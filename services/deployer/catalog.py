"""Templates: a folder with `compose.yaml` and `template.json` (see catalog/README.md). Loaded
once at start from the built-in catalog and any extra folders; a bad template is logged and left
out, never half-loaded."""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appos.v1 import apps_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.names import validate_dns_label
from services.deployer import envfile

logger = logging.getLogger(__name__)

TYPES = ("string", "int", "bool", "password", "choice")
CATEGORIES = (
    "cms", "devtools", "automation", "monitoring", "security", "storage",
    "analytics", "database", "web", "media", "communication", "productivity", "test",
)  # fmt: skip
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")
MAX_STRING = 4096


@dataclass(frozen=True)
class Setting:
    key: str
    type: str
    help: str = ""
    required: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()
    # Random bytes in a password generated for this setting (URL-safe text, 4/3 as many characters).
    length: int = 18

    def to_pb(self) -> apps_pb2.SettingSpec:
        return apps_pb2.SettingSpec(
            key=self.key, type=self.type, help=self.help, required=self.required,
            default=self.default, choices=list(self.choices),
        )  # fmt: skip

    def coerce(self, value: str) -> str:
        """The value as it goes into .env, or InvalidArgument saying what is wrong."""
        if self.type == "int":
            try:
                number = int(value.strip())
            except ValueError as exc:
                raise InvalidArgument(f"setting {self.key} must be a whole number") from exc
            if self.key.endswith("PORT") and not 1 <= number <= 65535:
                raise InvalidArgument(f"setting {self.key} must be a port between 1 and 65535")
            return str(number)
        if self.type == "bool":
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise InvalidArgument(f"setting {self.key} must be true or false")
            return "true" if lowered in ("true", "1", "yes") else "false"
        if self.type == "choice" and value not in self.choices:
            raise InvalidArgument(f"setting {self.key} must be one of: {', '.join(self.choices)}")
        if len(value) > MAX_STRING:
            raise InvalidArgument(f"setting {self.key} is longer than {MAX_STRING} characters")
        return value


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    category: str
    compose: str
    settings: tuple[Setting, ...]
    logo: str = ""
    website: str = ""
    web_service: str = ""
    web_port: int = 0
    folder: Path = field(default=Path("."), compare=False)

    def to_pb(self, *, with_compose: bool = False) -> apps_pb2.Template:
        return apps_pb2.Template(
            name=self.name, title=self.title, description=self.description, category=self.category,
            logo=self.logo, website=self.website, web_service=self.web_service, web_port=self.web_port,
            settings=[s.to_pb() for s in self.settings], compose=self.compose if with_compose else "",
        )  # fmt: skip

    def matches(self, search: str, category: str) -> bool:
        if category and self.category != category:
            return False
        text = f"{self.name} {self.title} {self.description} {self.category}".lower()
        return all(word in text for word in search.lower().split())

    def rank(self, search: str) -> int:
        """0 when the name or title starts with the search, 1 when it contains it, 2 otherwise."""
        words = search.lower().split()
        if not words:
            return 0
        names = (self.name.lower(), self.title.lower())
        if any(n.startswith(words[0]) for n in names) and all(any(w in n for n in names) for w in words):
            return 0
        return 1 if all(any(w in n for n in names) for w in words) else 2

    def render_env(self, given: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The .env for `given` settings, and the secrets generated for passwords left empty."""
        known = {s.key for s in self.settings}
        unknown = sorted(set(given) - known)
        if unknown:
            raise InvalidArgument(f"unknown setting(s) for {self.name}: {', '.join(unknown)}")
        values: dict[str, str] = {}
        generated: dict[str, str] = {}
        for setting in self.settings:
            value = given.get(setting.key, "")
            if value == "":
                value = setting.default
            if value == "" and setting.type == "password":
                value = secrets.token_urlsafe(setting.length)
                generated[setting.key] = value
            if value == "":
                if setting.required:
                    raise InvalidArgument(f"setting {setting.key} is required")
                values[setting.key] = ""
                continue
            values[setting.key] = setting.coerce(value)
        return envfile.render(values), generated


def compose_variables(compose_text: str) -> set[str]:
    # `$$` is a literal dollar sign in Compose; drop those before looking for variables.
    text = compose_text.replace("$$", "")
    return {a or b for a, b in _VARIABLE.findall(text)}


def _setting(raw: dict[str, Any]) -> Setting:
    key = str(raw.get("key", ""))
    if not _KEY.fullmatch(key):
        raise ValueError(f"setting key {key!r} is not UPPER_SNAKE")
    kind = raw.get("type")
    if kind not in TYPES:
        raise ValueError(f"setting {key}: type must be one of {TYPES}")
    default = raw.get("default", "")
    if isinstance(default, bool):
        default = "true" if default else "false"
    choices = tuple(str(c) for c in raw.get("choices", ()))
    if kind == "choice" and (not choices or (default != "" and str(default) not in choices)):
        raise ValueError(f"setting {key}: a choice needs choices, and its default must be one")
    length = raw.get("length", 18)
    if not isinstance(length, int) or not 8 <= length <= 256 or (length != 18 and kind != "password"):
        raise ValueError(f"setting {key}: length is for passwords, 8-256 random bytes")
    setting = Setting(
        key=key, type=kind, help=str(raw.get("help", "")), required=bool(raw.get("required", False)),
        default=str(default), choices=choices, length=length,
    )  # fmt: skip
    if setting.default:
        setting.coerce(setting.default)
    return setting


def load_template(folder: Path) -> Template:
    meta = json.loads((folder / "template.json").read_text())
    compose_text = (folder / "compose.yaml").read_text()
    name = str(meta.get("name", ""))
    validate_dns_label(name, what="template name")
    if name != folder.name:
        raise ValueError(f"template name {name!r} differs from its folder {folder.name!r}")
    if meta.get("category") not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}")
    settings = tuple(_setting(raw) for raw in meta.get("settings", []))
    keys = [s.key for s in settings]
    if len(set(keys)) != len(keys):
        raise ValueError("a setting key appears twice")
    used = compose_variables(compose_text)
    if used != set(keys):
        missing, unused = sorted(used - set(keys)), sorted(set(keys) - used)
        raise ValueError(f"compose variables and settings differ: not settings {missing}, unused {unused}")
    web = meta.get("web") or {}
    return Template(
        name=name,
        title=str(meta.get("title") or name),
        description=str(meta.get("description", "")),
        category=meta["category"],
        compose=compose_text,
        settings=settings,
        logo=str(meta.get("logo", "")),
        website=str(meta.get("website", "")),
        web_service=str(web.get("service", "")),
        web_port=int(web.get("port", 0)),
        folder=folder,
    )


class Catalog:
    def __init__(self, templates: dict[str, Template]) -> None:
        self._templates = templates

    @classmethod
    def load(cls, folders: list[Path]) -> Catalog:
        templates: dict[str, Template] = {}
        for root in folders:
            if not root.is_dir():
                logger.warning("catalog folder %s does not exist", root)
                continue
            for folder in sorted(p for p in root.iterdir() if (p / "template.json").is_file()):
                try:
                    template = load_template(folder)
                except (ValueError, KeyError, OSError, InvalidArgument) as exc:
                    logger.error("template %s left out: %s", folder, exc)
                    continue
                templates.setdefault(template.name, template)
        logger.info("catalog: %d templates", len(templates))
        return cls(templates)

    def get(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            raise NotFound(f"template {name!r} does not exist")
        return template

    def search(self, *, search: str, category: str) -> list[Template]:
        """The templates that match, the best first: those whose name (or title) matches, then those
        whose words merely mention it (a description naming "postgres" comes after PostgreSQL)."""
        found = [t for t in self._templates.values() if t.matches(search, category)]
        return sorted(found, key=lambda t: (t.rank(search), t.name))

    def categories(self) -> list[str]:
        return sorted({t.category for t in self._templates.values()})
