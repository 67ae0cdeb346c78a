"""The config file: where it lives, its permissions, and what overrides it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cli import config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("APPOS_URL", raising=False)
    monkeypatch.delenv("APPOS_TOKEN", raising=False)
    return tmp_path / "xdg" / "appos" / "config.toml"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_is_private_from_its_first_byte(home: Path) -> None:
    assert config.config_path() == home
    config.update_file(url="http://example.test:8080", token="secret-token")
    assert _mode(home) == 0o600
    assert _mode(home.parent) == 0o700
    assert config.read_file() == {"url": "http://example.test:8080", "token": "secret-token"}
    assert not [p for p in home.parent.iterdir() if p != home], "no temp files are left behind"


def test_rewriting_a_loose_file_makes_it_private(home: Path) -> None:
    home.parent.mkdir(parents=True)
    home.write_text('url = "http://old.test"\n')
    home.chmod(0o644)
    config.update_file(token="t")
    assert _mode(home) == 0o600
    assert config.read_file() == {"url": "http://old.test", "token": "t"}
    config.update_file(token="")
    assert config.read_file() == {"url": "http://old.test"}


def test_environment_overrides_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.load() == config.Settings(config.DEFAULT_URL, "", "default", "")
    config.update_file(url="http://file.test/", token="from-file")
    loaded = config.load()
    assert (loaded.url, loaded.token, loaded.url_source, loaded.token_source) == (
        "http://file.test",
        "from-file",
        "file",
        "file",
    )
    monkeypatch.setenv("APPOS_URL", "env.test:9000")
    monkeypatch.setenv("APPOS_TOKEN", "from-env")
    loaded = config.load()
    assert (loaded.url, loaded.token, loaded.url_source, loaded.token_source) == (
        "http://env.test:9000",
        "from-env",
        "env",
        "env",
    )


def test_a_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.config_path() == tmp_path / ".config" / "appos" / "config.toml"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:1/", "http://h:1"),
        ("https://appos.example.com", "https://appos.example.com"),
        ("localhost:8080", "http://localhost:8080"),
    ],
)
def test_urls_are_normalized(given: str, expected: str) -> None:
    assert config.normalize_url(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://h", "file:///etc/passwd"])
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(config.ConfigError):
        config.normalize_url(bad)


def test_a_broken_file_is_reported(home: Path) -> None:
    home.parent.mkdir(parents=True)
    home.write_text("url = [unclosed\n")
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load()
