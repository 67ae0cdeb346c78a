"""The community's app-store formats, converted into AppOS templates. Pure: a store is a local
folder already fetched, the result is data (no network, no Docker, nothing written).

    detect(root)             the store's format, or UnknownFormat naming the layouts looked for
    convert(root, format)    every entry as a `Converted` template or a `Skipped` with its reason

One module per format (casaos, runtipi, umbrel, dokploy, coolify, portainer) lists its entries
and reads each one's metadata into a `shaping.Draft`; `Draft.finish()` shapes the compose file and
builds template.json the same way for all (see shaping.py). A bad entry is skipped with a plain
sentence and never stops the rest; the Compose and policy checks come after, outside this package."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.deployer.stores.formats import casaos, coolify, dokploy, portainer, runtipi, umbrel
from services.deployer.stores.formats.common import Converted, EntryError, Skipped, Store

__all__ = ["FORMATS", "Conversion", "Converted", "Skipped", "UnknownFormat", "convert", "detect"]

logger = logging.getLogger(__name__)

FORMATS = ("casaos", "runtipi", "umbrel", "dokploy", "coolify", "portainer")
# Looked at in this order: a folder that holds two layouts is the first one's.
_MODULES = {
    "portainer": portainer,
    "casaos": casaos,
    "runtipi": runtipi,
    "umbrel": umbrel,
    "dokploy": dokploy,
    "coolify": coolify,
}


@dataclass
class Conversion:
    format: str
    converted: list[Converted]
    skipped: list[Skipped]


class UnknownFormat(ValueError):
    pass


def _layouts() -> str:
    return "; ".join(f"{_MODULES[name].TITLE}: {_MODULES[name].LAYOUT}" for name in FORMATS)


def detect(root: Path) -> str:
    if not root.is_dir():
        raise UnknownFormat(f"{root} is not a folder")
    store = Store(root)
    for name, module in _MODULES.items():
        if module.looks_like(store):
            return name
    raise UnknownFormat(f"the folder is no app store AppOS can read; it looked for {_layouts()}")


def convert(
    root: Path, format: str | None = None, *, limit: int = 5000,
    fetch_repository: Callable[[str], Path] | None = None,
) -> Conversion:  # fmt: skip
    """Every entry of the store, converted or skipped with its reason (at most `limit` entries;
    the rest are one Skipped). `fetch_repository(url)`: a local folder holding the repository
    another one's entries point at (Portainer stacks); without it such entries are skipped."""
    if format is None:
        format = detect(root)
    module = _MODULES.get(format)
    if module is None:
        raise UnknownFormat(f"unknown store format {format!r}; known: {', '.join(FORMATS)}")
    store = Store(root)
    if not root.is_dir() or not module.looks_like(store):
        raise UnknownFormat(f"the folder is no {module.TITLE} store; it looked for {module.LAYOUT}")
    result = Conversion(format=format, converted=[], skipped=[])
    names: dict[str, str] = {}
    for count, (entry, work) in enumerate(module.entries(store, fetch_repository=fetch_repository)):
        if count >= limit:
            result.skipped.append(
                Skipped(entry="…", reason=f"the store has more than {limit} entries; the rest were not read")
            )
            break
        try:
            converted = work()
        except EntryError as exc:
            result.skipped.append(Skipped(entry=entry, reason=exc.reason))
            continue
        except Exception as exc:  # a file no converter foresaw: that entry only, said and logged
            logger.warning("store entry %s could not be converted", entry, exc_info=True)
            result.skipped.append(Skipped(entry=entry, reason=f"it could not be converted ({exc!r})"))
            continue
        if converted.name in names:
            result.skipped.append(
                Skipped(
                    entry=entry, reason=f"entry {names[converted.name]} already has the name {converted.name}"
                )
            )
            continue
        names[converted.name] = entry
        result.converted.append(converted)
    return result
