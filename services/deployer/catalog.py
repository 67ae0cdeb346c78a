"""Templates: a folder with `compose.yaml` and `template.json` (see catalog/README.md). Loaded
once at start from the built-in catalog and any extra folders; template.json is checked by a
pydantic model (`TemplateSpec`), and a bad template is logged with the reason and left out, never
half-loaded and never stopping the deployer."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from appos.v1 import apps_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.names import validate_dns_label
from services.deployer import envfile

logger = logging.getLogger(__name__)

SettingType = Literal["string", "int", "bool", "password", "choice"]
TYPES: tuple[str, ...] = get_args(SettingType)
CATEGORIES = (
    "cms", "devtools", "automation", "monitoring", "security", "storage",
    "analytics", "database", "web", "media", "communication", "productivity", "test",
)  # fmt: skip
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")
MAX_STRING = 4096
BUILTIN = "builtin"  # the store name of AppOS's own templates (and of extra template folders)


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
    # `builtin`, or the app store it came from (its name is then `<store>/<entry>`)
    store: str = BUILTIN
    notes: tuple[str, ...] = ()

    def to_pb(self, *, with_compose: bool = False) -> apps_pb2.Template:
        return apps_pb2.Template(
            name=self.name, title=self.title, description=self.description, category=self.category,
            logo=self.logo, website=self.website, web_service=self.web_service, web_port=self.web_port,
            settings=[s.to_pb() for s in self.settings], compose=self.compose if with_compose else "",
            store=self.store, notes=list(self.notes),
        )  # fmt: skip

    def matches(self, search: str, category: str, store: str = "") -> bool:
        if category and self.category != category:
            return False
        if store and self.store != store:
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


class SettingSpec(BaseModel):
    """One entry of template.json's `settings` (catalog/README.md)."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(pattern=_KEY.pattern)]
    type: SettingType
    help: str = ""
    required: StrictBool = False
    # `default` has the setting's type in the JSON; .env holds text
    default: StrictBool | StrictInt | str = ""
    choices: list[StrictInt | str] = []
    length: int = Field(default=18, ge=8, le=256)

    @model_validator(mode="after")
    def _consistent(self) -> SettingSpec:
        choices = [str(c) for c in self.choices]
        if self.type == "choice" and (not choices or self.text_default not in ("", *choices)):
            raise ValueError(f"setting {self.key}: a choice needs choices, and its default must be one")
        if self.length != 18 and self.type != "password":
            raise ValueError(f"setting {self.key}: length is for passwords, 8-256 random bytes")
        return self

    @property
    def text_default(self) -> str:
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)

    def to_setting(self) -> Setting:
        setting = Setting(
            key=self.key, type=self.type, help=self.help, required=self.required,
            default=self.text_default, choices=tuple(str(c) for c in self.choices), length=self.length,
        )  # fmt: skip
        if setting.default:
            setting.coerce(setting.default)  # InvalidArgument: a default the setting itself refuses
        return setting


class WebSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str
    port: int = Field(ge=1, le=65535)


class TemplateSpec(BaseModel):
    """template.json (catalog/README.md), checked before anything of the template is used."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str = ""
    description: str = ""
    category: str
    logo: str = ""
    website: str = ""
    web: WebSpec | None = None
    settings: list[SettingSpec] = []

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        try:
            return validate_dns_label(name, what="template name")
        except InvalidArgument as exc:
            raise ValueError(exc.message) from exc

    @field_validator("category")
    @classmethod
    def _known_category(cls, category: str) -> str:
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
        return category

    @field_validator("settings")
    @classmethod
    def _unique_keys(cls, settings: list[SettingSpec]) -> list[SettingSpec]:
        keys = [s.key for s in settings]
        if len(set(keys)) != len(keys):
            raise ValueError("a setting key appears twice")
        return settings


def _setting(raw: dict[str, Any]) -> Setting:
    return SettingSpec.model_validate(raw).to_setting()


def why(exc: Exception) -> str:
    """A one-line reason: each of pydantic's errors as `where: what`."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'template.json'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
    return getattr(exc, "message", "") or str(exc)


def load_template(folder: Path) -> Template:
    spec = TemplateSpec.model_validate_json((folder / "template.json").read_bytes())
    compose_text = (folder / "compose.yaml").read_text()
    if spec.name != folder.name:
        raise ValueError(f"template name {spec.name!r} differs from its folder {folder.name!r}")
    settings = tuple(s.to_setting() for s in spec.settings)
    keys = {s.key for s in settings}
    used = compose_variables(compose_text)
    if used != keys:
        missing, unused = sorted(used - keys), sorted(keys - used)
        raise ValueError(f"compose variables and settings differ: not settings {missing}, unused {unused}")
    return Template(
        name=spec.name,
        title=spec.title or spec.name,
        description=spec.description,
        category=spec.category,
        compose=compose_text,
        settings=settings,
        logo=spec.logo,
        website=spec.website,
        web_service=spec.web.service if spec.web else "",
        web_port=spec.web.port if spec.web else 0,
        folder=folder,
    )


class Catalog:
    """The built-in templates (and extra folders), loaded once, plus each app store's templates,
    replaced whole when the store is added, refreshed or removed (one assignment: a reader sees the
    store's old templates or its new ones, never a mix)."""

    def __init__(self, templates: dict[str, Template]) -> None:
        self._templates = templates
        self._stores: dict[str, dict[str, Template]] = {}

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
                except (ValueError, OSError, InvalidArgument) as exc:  # ValidationError is a ValueError
                    logger.error("template %s left out: %s", folder, why(exc))
                    continue
                templates.setdefault(template.name, template)
        logger.info("catalog: %d templates", len(templates))
        return cls(templates)

    def set_store(self, store: str, templates: list[Template]) -> None:
        """The store's templates from now on (named `<store>/<entry>` here)."""
        stores = dict(self._stores)
        stores[store] = {t.name: t for t in templates}
        self._stores = stores

    def drop_store(self, store: str) -> None:
        stores = dict(self._stores)
        stores.pop(store, None)
        self._stores = stores

    def _all(self) -> list[Template]:
        return [*self._templates.values(), *(t for s in self._stores.values() for t in s.values())]

    def get(self, name: str) -> Template:
        store, _, entry = name.rpartition("/")
        template = self._stores.get(store, {}).get(name) if store else self._templates.get(name)
        if template is None:
            raise NotFound(f"template {name!r} does not exist")
        return template

    def search(self, *, search: str, category: str, store: str = "") -> list[Template]:
        """The templates that match, the best first: those whose name (or title) matches, then those
        whose words merely mention it (a description naming "postgres" comes after PostgreSQL)."""
        found = [t for t in self._all() if t.matches(search, category, store)]
        return sorted(found, key=lambda t: (t.rank(search), t.store != BUILTIN, t.name))

    def categories(self) -> list[str]:
        return sorted({t.category for t in self._all()})
