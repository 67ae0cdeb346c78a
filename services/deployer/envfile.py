"""`.env` files as Compose reads them: KEY="value" lines with `\\`, `"` and `$` escaped."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Compose reads keys with dots and dashes too (`cluster.name=x`, as Elasticsearch images want).
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$")
MAX_VALUE = 8192


def quote(value: str) -> str:
    if "\n" in value or "\r" in value or "\x00" in value:
        raise InvalidArgument("setting values cannot contain line breaks or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'


def render(values: dict[str, str]) -> str:
    lines = []
    for key, value in values.items():
        if not _KEY.fullmatch(key):
            raise InvalidArgument(f"{key!r} is not a valid variable name")
        if len(value) > MAX_VALUE:
            raise InvalidArgument(f"the value of {key} is longer than {MAX_VALUE} characters")
        lines.append(f"{key}={quote(value)}")
    return "\n".join(lines) + ("\n" if lines else "")


def keys(text: str) -> list[str]:
    """The variable names an .env text defines; a line that is not `KEY=value`, a comment or
    blank is an error."""
    if "\x00" in text:
        raise InvalidArgument(".env cannot contain NUL")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise InvalidArgument(f".env line {number} is not KEY=value")
        if len(match.group(1)) > MAX_KEY_LENGTH:
            raise InvalidArgument(
                f".env line {number}: a variable name is at most {MAX_KEY_LENGTH} characters"
            )
        found.append(match.group(1))
    return found


MAX_KEY_LENGTH = 128

_ESCAPE = re.compile(r"\\(.)|\$\$")


def values(text: str) -> dict[str, str]:
    """KEY → value as Compose reads them: a double-quoted value with `quote()`'s escapes undone, a
    single-quoted one as written, an unquoted one up to a ` #` comment."""
    found = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _ESCAPE.sub(lambda m: m.group(1) if m.group(1) is not None else "$", value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        found[match.group(1)] = value
    return found


_SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY|SALT|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE)
MASK = "********"


def is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def mask(text: str, *, every_value: bool = False) -> str:
    """The .env with the values of secret-looking keys replaced by a mask (what operators and admins
    see in diffs). `every_value`: what a viewer sees of any .env, the names only — every value
    masked, comments emptied to `#`, and a line that is not `KEY=value` masked whole."""
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and (every_value or is_secret(match.group(1))):
            out.append(f"{match.group(1)}={MASK}")
        elif not every_value or not line.strip():
            out.append(line)
        else:
            out.append("#" if line.lstrip().startswith("#") else MASK)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
