"""The files Compose reads while it loads a project (`include`, `extends.file`, `env_file`,
`label_file`), checked on the file as written before Compose runs at all: Compose would read a host
file such as /etc/shadow or AppOS's signing key first, and echo pieces of it in its errors.

Paths may use variables (`${ENV_FILE:-.env}`); they are interpolated from the .env sent and the
few variables Compose's environment has. One that cannot be resolved refuses the file."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import InvalidArgument
from services.deployer import envfile
from services.deployer.policy.paths import HostPath, normalize

_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_.]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


class _Loader(yaml.SafeLoader):
    """YAML as Compose reads it: `!reset`/`!override` tags, and duplicate keys refused (Compose's
    parser refuses them too, so both read the same document)."""


def _tagged(loader: _Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return _mapping(loader, node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    try:
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: the keys written beside it win, as in Compose
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise InvalidArgument(f"compose file is not valid: key {key!r} is defined twice")
            seen.add(key)
        loader.flatten_mapping(node)
        return {
            loader.construct_object(k, deep=True): loader.construct_object(v, deep=True)
            for k, v in node.value
        }
    except TypeError as exc:  # a list or mapping used as a key
        raise InvalidArgument("compose file is not valid: a key must be a plain value") from exc


_Loader.add_constructor("!reset", _tagged)
_Loader.add_constructor("!override", _tagged)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse(compose_text: str) -> dict[str, Any]:
    try:
        document = yaml.load(compose_text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = str(exc.problem or exc.context or "").replace("'<stream end>'", "the end of the file")
        raise InvalidArgument(f"compose file is not valid YAML{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise InvalidArgument("compose file is not valid YAML") from exc
    if not isinstance(document, dict):
        raise InvalidArgument("compose file must be a mapping with a services key")
    return document


_MAX_BRANCHES = 64


def interpolations(text: str, values: Mapping[str, str]) -> set[str]:
    """Every path the text can become: Compose's own reading, and for each `${V-x}`, `${V:-x}`,
    `${V+x}` and `${V:+x}` both branches, whichever Compose takes (a check that agrees with Compose
    on which branch is taken is one bug away from checking the wrong path). An unset variable
    without a default refuses the path."""

    def options(match: re.Match[str]) -> list[str]:
        name = match.group(1) or match.group(4)
        operator, branch = match.group(2) or "", match.group(3) or ""
        value = values.get(name)
        if operator in (":-", "-"):
            return [*([value] if value is not None else []), *sorted(interpolations(branch, values))]
        if operator in (":+", "+"):
            return ["", *sorted(interpolations(branch, values))]
        if value is None:
            raise InvalidArgument(f"compose file: the variable {name} in a file path is not set")
        return [value]

    escaped = text.replace("$$", "\x00")
    pieces: list[list[str]] = []
    last = 0
    for match in _VAR.finditer(escaped):
        pieces += [[escaped[last : match.start()]], options(match)]
        last = match.end()
    pieces.append([escaped[last:]])
    results = {""}
    for choices in pieces:
        results = {done + choice for done in results for choice in choices}
        if len(results) > _MAX_BRANCHES:
            raise InvalidArgument(f"compose file: the path {text!r} has too many variable branches to check")
    if any("$" in result for result in results):
        raise InvalidArgument(f"compose file: the path {text!r} cannot be resolved")
    return {result.replace("\x00", "$") for result in results}


def read_paths(
    compose_text: str, env_text: str, app_dir: Path, process_env: Mapping[str, str]
) -> list[HostPath]:
    """Every file Compose would read while loading the file as written, resolved against the app's
    folder."""
    document = parse(compose_text)
    values = {**envfile.values(env_text), **process_env}  # Compose's own environment wins over .env
    out = []
    for where, path in _written(document):
        if not isinstance(path, str) or not path:
            raise InvalidArgument(f"compose file: {where} must be a path")
        for each in sorted(interpolations(path, values)):
            out.append(HostPath(f"{where} {path}", normalize(each, app_dir), mounted=False))
    return out


def _written(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    includes = document.get("include") or []
    for entry in includes if isinstance(includes, list) else [includes]:
        if isinstance(entry, dict):
            paths = entry.get("path") or []
            for path in paths if isinstance(paths, list) else [paths]:
                yield "include", path
            env_files = entry.get("env_file") or []
            for path in env_files if isinstance(env_files, list) else [env_files]:
                yield "include env_file", path
            if entry.get("project_directory"):
                yield "include project_directory", entry["project_directory"]
        else:
            yield "include", entry
    services = document.get("services") or {}
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        extends = service.get("extends")
        if isinstance(extends, dict) and "file" in extends:
            yield f"service {name}: extends file", extends["file"]
        env_files = service.get("env_file") or []
        for entry in env_files if isinstance(env_files, list) else [env_files]:
            yield f"service {name}: env_file", entry.get("path") if isinstance(entry, dict) else entry
        label_files = service.get("label_file") or []
        for entry in label_files if isinstance(label_files, list) else [label_files]:
            yield f"service {name}: label_file", entry
