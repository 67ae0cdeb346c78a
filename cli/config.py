"""Where the CLI finds its server and token.

`$XDG_CONFIG_HOME/appos/config.toml` (default `~/.config/appos/config.toml`, mode 0600, in a 0700
folder) holds `url` and `token`; `APPOS_URL` and `APPOS_TOKEN` override them for one run.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

DEFAULT_URL = "http://127.0.0.1:8080"


class ConfigError(Exception):
    """The config file cannot be read or written."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    url_source: str  # "env", "file" or "default": helps explain where a value came from
    token_source: str  # "env", "file" or ""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "appos" / "config.toml"


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url:
        raise ConfigError("the URL is empty")
    if "://" not in url:
        url = f"http://{url}"
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"the URL must start with http:// or https://, not {scheme}://")
    return url


def read_file(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return {key: value for key, value in data.items() if key in ("url", "token") and isinstance(value, str)}


def write_file(values: dict[str, str], path: Path | None = None) -> Path:
    """Replace the config file atomically; it is created 0600 and never exists with looser modes."""
    path = path or config_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                tomli_w.dump({k: v for k, v in values.items() if v}, out)
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
    return path


def update_file(**changes: str) -> Path:
    """Set (or, with "", remove) keys in the config file, keeping the others."""
    values = read_file()
    values.update(changes)
    return write_file({k: v for k, v in values.items() if v})


def load() -> Settings:
    stored = read_file()
    env_url = os.environ.get("APPOS_URL", "").strip()
    env_token = os.environ.get("APPOS_TOKEN", "").strip()
    if env_url:
        url, url_source = normalize_url(env_url), "env"
    elif stored.get("url"):
        url, url_source = normalize_url(stored["url"]), "file"
    else:
        url, url_source = DEFAULT_URL, "default"
    if env_token:
        token, token_source = env_token, "env"
    elif stored.get("token"):
        token, token_source = stored["token"], "file"
    else:
        token, token_source = "", ""
    return Settings(url=url, token=token, url_source=url_source, token_source=token_source)
