"""A store's variables as AppOS settings.

    Settings     the settings of one entry, in the order they were met (`HTTP_PORT` first)
    interpolate  every `${VAR…}` / `$VAR` of a text, rewritten to `${KEY}` of a setting (or to a
                 literal the format knows, like CasaOS's `$AppID`)
    secret_key   is this environment key a secret's (DB_PASSWORD, API_TOKEN; not PUBLIC_KEY)?
    weak         is this literal value a weak secret (short, or a well-known default)?

AppOS writes `${KEY}` only, each KEY a setting, and renders the settings into .env; what Compose's
`${VAR:-default}` and `${VAR:?error}` said becomes the setting's default and `required`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from services.deployer.stores.formats.common import PUBLIC_DOMAIN, EntryError

_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "KEY", "APIKEY", "PASSPHRASE", "SECRETKEY"}
)
# Words that make a secret-sounding key something else: where a secret is, how long, whose.
_NOT_SECRET_WORDS = frozenset(
    {
        "FILE", "PATH", "DIR", "PUBLIC", "PUB", "URL", "HOST", "PORT", "USER", "USERNAME", "NAME", "ID",
        "LENGTH", "LEN", "MIN", "MAX", "TYPE", "MODE", "ENABLED", "ENABLE", "DISABLED", "DISABLE", "RESET",
        "EXPIRY", "EXPIRES", "EXPIRE", "TTL", "POLICY", "ALGORITHM", "FORMAT", "PREFIX", "REQUIRED", "HEADER",
        "FIELD", "AUTH", "LOGIN", "HINT", "ROTATION", "STRENGTH", "SALT_ROUNDS", "ROUNDS", "COST",
    }
)  # fmt: skip
_WELL_KNOWN = frozenset(
    {
        "changeme", "change-me", "change_me", "changeit", "password", "passw0rd", "p@ssw0rd", "admin",
        "administrator", "secret", "example", "123456", "12345678", "123456789", "1234567890", "root",
        "toor", "default", "test", "qwerty", "letmein", "pass", "mysecretpassword", "supersecret",
        "secretpassword", "password123", "admin123", "your-secret-key", "yoursecretkey", "changethis",
        "please-change-me", "insecure", "postgres", "mysql", "mariadb", "guest", "moneyprintergobrrr",
    }
)  # fmt: skip
_NOT_VALUES = frozenset({"", "true", "false", "yes", "no", "on", "off", "0", "1", "none", "null"})
MIN_SECRET = 16


def secret_key(key: str) -> bool:
    words = [w for w in re.split(r"[^A-Z0-9]+", key.upper()) if w]
    if any(w in _NOT_SECRET_WORDS for w in words):
        return False
    return any(w in _SECRET_WORDS or w.endswith(("PASSWORD", "SECRET", "TOKEN", "APIKEY")) for w in words)


def weak(value: Any) -> bool:
    """A literal secret anyone reading the store knows, or can guess."""
    if value is None or isinstance(value, bool) or "$" in str(value):
        return False
    literal = str(value).strip()
    if literal.lower() in _NOT_VALUES:
        return False
    lowered = literal.lower()
    return (
        len(literal) < MIN_SECRET or lowered in _WELL_KNOWN or "changeme" in lowered or "example" in lowered
    )


def key_for(name: str) -> str:
    """A setting key (UPPER_SNAKE) for a store's variable name."""
    key = re.sub(r"[^A-Z0-9_]+", "_", name.upper()).strip("_")
    if not key or not key[0].isalpha():
        key = f"V_{key}"
    return key


def length_for(characters: int) -> int:
    """Random bytes for a generated text of at least `characters` characters (4/3 per byte)."""
    return max(8, min(256, math.ceil(characters * 3 / 4)))


class Settings:
    """One entry's settings: the first declaration of a key wins, a later one may only fill in a
    default it lacked or make it required."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def add(
        self, key: str, type: str = "string", *, default: Any = None, required: bool = False, help: str = "",
        length: int = 0, choices: list[str] | None = None,
    ) -> str:  # fmt: skip
        if not _KEY.fullmatch(key):
            raise EntryError(f"{key!r} cannot be a setting's name")
        item = self._items.get(key)
        if item is None:
            item = {"key": key, "type": type}
            if choices:
                item["choices"] = choices
            if length and type == "password" and length != 18:
                item["length"] = max(8, min(256, length))
            self._items[key] = item
        if default is not None and default != "" and "default" not in item:
            item["default"] = _typed(default, item["type"])
        if required:
            item["required"] = True
        if help and "help" not in item:
            item["help"] = help
        return key

    def note(self, sentence: str) -> None:
        if sentence not in self.notes:
            self.notes.append(sentence)

    def fixed_password(self, key: str, value: Any) -> None:
        self.note(
            f"{key}: the store's file set a fixed password ({str(value)!r}); AppOS generates one instead."
        )

    def timezone(self, default: str = "UTC") -> str:
        return ref(self.add("TZ", default=default, help="Time zone, e.g. Europe/Berlin"))

    def public_domain(self) -> str:
        return ref(
            self.add(PUBLIC_DOMAIN, default="localhost", help="Domain or address the app is reached at")
        )

    def variable(self, name: str, *, default: str | None, required: bool, help: str = "") -> str:
        """The setting of a store variable with no special meaning: a password when its name says
        secret (generated when the store's default is missing or weak), else a string."""
        key = key_for(name)
        help = help or f"{name} in the store's files"
        if key in self:
            if self._items[key]["type"] == "password" and weak(default):
                default = None  # a weak default never fills a password in
            return self.add(key, default=default, required=required)
        if secret_key(key) and (default is None or weak(default)):
            if default:
                self.fixed_password(key, default)
            return self.add(key, "password", help=f"{help.rstrip('.')}; generated when empty")
        if secret_key(key) and default:
            return self.add(key, "password", default=default, help=help)
        return self.add(key, default=default, required=required and not default, help=help)

    def literal_secret(self, env_key: str, value: Any) -> str:
        """The password setting that replaces a weak literal secret of the store's files."""
        key = key_for(env_key)
        if key in self and self._items[key]["type"] != "password":
            key = f"{key}_SECRET"
        self.add(key, "password", help=f"{env_key}; generated when empty")
        self.note(
            f"{key}: the store's file set a fixed password ({str(value)!r}); AppOS generates one instead."
        )
        return key

    def specs(self, used: set[str]) -> list[dict[str, Any]]:
        return [dict(item) for key, item in self._items.items() if key in used]


def ref(key: str) -> str:
    """How the compose file refers to a setting."""
    return f"${{{key}}}"


def _typed(default: Any, type: str) -> Any:
    if type == "int":
        try:
            return int(str(default).strip())
        except ValueError:
            raise EntryError(f"the default {default!r} is not a whole number") from None
    if type == "bool":
        return str(default).strip().lower() in ("true", "1", "yes", "on")
    return str(default)


# `resolve(name)`: the text that replaces the format's own variables (`${KEY}` of a setting it
# made, or a literal), or None for a variable with no special meaning.
Resolver = Callable[[str], str | None]


def interpolate(value: str, settings: Settings, resolve: Resolver) -> str:
    """`value` with every variable rewritten; `$$` (a literal dollar) is kept."""
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = value[i + 1 : i + 2]
        if following == "$":
            out.append("$$")
            i += 2
        elif following == "{":
            end = _closing(value, i + 2)
            out.append(_replace(value[i + 2 : end], settings, resolve))
            i = end + 1
        elif (match := _NAME.match(value, i + 1)) is not None:
            out.append(_replace(match.group(0), settings, resolve))
            i = match.end()
        else:
            out.append("$$")  # a lone `$` Compose would refuse; a literal one is meant
            i += 1
    return "".join(out)


def _closing(value: str, start: int) -> int:
    depth = 1
    for index in range(start, len(value)):
        if value[index] == "{":
            depth += 1
        elif value[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise EntryError(f"{value!r} has a `${{` that is never closed")


_EXPRESSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", re.DOTALL)


def _replace(expression: str, settings: Settings, resolve: Resolver) -> str:
    match = _EXPRESSION.match(expression)
    if match is None:
        raise EntryError(f"${{{expression}}} is not a variable AppOS can read")
    name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
    if operator.endswith("+"):
        raise EntryError(f"${{{expression}}} (a value only when set) cannot be expressed with settings")
    if "$" in argument and operator.endswith("-"):
        raise EntryError(f"the default of ${{{expression}}} uses another variable, which settings cannot")
    known = resolve(name)
    if known is not None:
        return known
    default = argument if operator.endswith("-") else None
    key = settings.variable(name, default=default, required=operator.endswith("?"))
    return ref(key)


def rewrite(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (a parsed compose file or a part) with `change` applied to every string value.
    Compose does not interpolate keys: a key with a `$` is refused."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if "$" in str(key):
                raise EntryError(f"the key {key!r} holds a variable, which Compose would not read")
            result[key] = rewrite(item, change)
        return result
    if isinstance(value, list):
        return [rewrite(item, change) for item in value]
    if isinstance(value, str):
        return change(value)
    return value
