"""An update as a change of the app's files: each named service's `image:` gets the new tag, and
nothing else of compose.yaml or .env changes (byte for byte).

    compose.yaml as written → PyYAML's node tree (positions of every scalar) → the span of each
    service's `image:` value → the tag inside it replaced in the text itself

Where the value is an alias or a merge (`<<: *base`) the node is shared: it is changed only when
every service that uses it gets the same tag. A tag written as a variable (`web:${WEB_TAG}`) is
changed in .env when the variable is exactly the tag and nothing else in compose.yaml uses it;
any other use of variables in the reference is refused in words, since AppOS cannot tell what
else that would change. The caller checks the result with Compose (`docker compose config`):
each service must then name the image it was meant to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from services.common.errors import InvalidArgument

# Docker's tag grammar: what a tag may be, checked before it reaches a file or a command line.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_VARIABLE_TAG = re.compile(r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)")
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)+")  # a node's anchor or tag, written before its value
_ENV_LINE = re.compile(r"^(?P<head>\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*)(?P<value>.*)$")


def validate_tag(service: str, tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise InvalidArgument(
            f"service {service}: {tag!r} is not a valid image tag (letters, digits, '_', '.' and '-', "
            "at most 128, not starting with '.' or '-'); give the tag as the registry lists it"
        )
    return tag


@dataclass(frozen=True)
class Rewritten:
    compose: str
    env: str


def split_tag(reference: str) -> tuple[str, str | None]:
    """(name, tag) of a reference as written; the tag None when it names none (`latest` then)."""
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, None


def rewrite(compose_text: str, env_text: str, targets: Mapping[str, str]) -> Rewritten:
    """compose.yaml and .env with each service of `targets` (service → tag) on its new tag."""
    for service, tag in targets.items():
        validate_tag(service, tag)
    try:
        root = yaml.compose(compose_text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"compose.yaml cannot be read: {exc}") from exc
    nodes = _image_nodes(root)
    edits: dict[int, tuple[yaml.ScalarNode, str]] = {}
    env_edits: dict[str, str] = {}
    for service, tag in sorted(targets.items()):
        node = nodes.get(service)
        if node is None:
            raise InvalidArgument(
                f"the image of {service} is not written in compose.yaml (it is built, or comes from "
                "another file); change it by editing the app's files"
            )
        sharing = sorted(s for s, n in nodes.items() if n is node and targets.get(s) != tag)
        if sharing:
            raise InvalidArgument(
                f"the image of {service} is shared with {', '.join(sharing)} through a YAML anchor; "
                f"update them together to the same tag, or edit the app's files"
            )
        if "$" in node.value:
            variable = _tag_variable(service, node.value)
            _refuse_other_uses(compose_text, variable, service, [n for n in nodes.values() if n is node])
            env_edits[variable] = tag
            continue
        edits[id(node)] = (node, tag)
    new_compose = compose_text
    # from the end of the text, so earlier spans keep their positions
    for node, tag in sorted(edits.values(), key=lambda item: item[0].start_mark.index, reverse=True):
        start, end = node.start_mark.index, node.end_mark.index
        new_compose = new_compose[:start] + _retagged(node, compose_text[start:end], tag) + new_compose[end:]
    return Rewritten(compose=new_compose, env=_rewrite_env(env_text, env_edits))


def _image_nodes(root: yaml.Node | None) -> dict[str, yaml.ScalarNode]:
    """Each service's `image:` value node (shared nodes are the same object)."""
    if not isinstance(root, yaml.MappingNode):
        raise InvalidArgument("compose.yaml is not a mapping")
    services = _value(root, "services")
    if not isinstance(services, yaml.MappingNode):
        raise InvalidArgument("compose.yaml has no services")
    found: dict[str, yaml.ScalarNode] = {}
    for key, spec in services.value:
        if not isinstance(key, yaml.ScalarNode) or not isinstance(spec, yaml.MappingNode):
            continue
        image = _value(spec, "image")
        if isinstance(image, yaml.ScalarNode):
            found[str(key.value)] = image
    return found


def _value(mapping: yaml.MappingNode, name: str) -> yaml.Node | None:
    """A key's value, looking into `<<` merges as YAML does (own keys first)."""
    merges: list[yaml.Node] = []
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            found: yaml.Node = value
            return found
        if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:merge":
            merges.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
    for merged in merges:
        if isinstance(merged, yaml.MappingNode):
            inner = _value(merged, name)
            if inner is not None:
                return inner
    return None


def _retagged(node: yaml.ScalarNode, source: str, tag: str) -> str:
    """The scalar's source text with the reference's tag replaced, quotes (and an anchor) kept."""
    properties = _PROPERTIES.match(source)
    kept = properties.group(0) if properties else ""
    source = source[len(kept) :]
    quote = source[:1] if node.style in ("'", '"') else ""
    inner = source[1:-1] if quote else source
    if inner != node.value or "\n" in source:
        raise InvalidArgument(
            f"the image reference {node.value!r} is written in a way AppOS cannot change safely "
            "(escapes or a folded line); write it on one line, or edit the app's files"
        )
    if "@" in inner:
        raise InvalidArgument(f"{inner} is pinned by digest; edit the app's files to choose another image")
    name, _old = split_tag(inner)
    return f"{kept}{quote}{name}:{tag}{quote}"


def _tag_variable(service: str, value: str) -> str:
    """The variable that is exactly the reference's tag (`web:${TAG}`), else refused."""
    name, tag = split_tag(value)
    match = _VARIABLE_TAG.fullmatch(tag or "")
    if "$" in name or match is None:
        raise InvalidArgument(
            f"the image of {service} is built from variables AppOS cannot change safely ({value}); "
            "edit the app's files to change it"
        )
    return str(match["braced"] or match["plain"])


def _refuse_other_uses(compose_text: str, variable: str, service: str, nodes: list[yaml.ScalarNode]) -> None:
    """The variable may appear nowhere in compose.yaml but in this image value (changing it in
    .env would change the rest too)."""
    uses = [m.start() for m in re.finditer(rf"\$\{{?{re.escape(variable)}(?![A-Za-z0-9_])", compose_text)]
    inside = [i for i in uses if any(n.start_mark.index <= i < n.end_mark.index for n in nodes)]
    if len(uses) != len(inside):
        raise InvalidArgument(
            f"the image of {service} is built from variables AppOS cannot change safely: {variable} "
            "is used elsewhere in compose.yaml too; edit the app's files to change it"
        )


def _rewrite_env(env_text: str, edits: Mapping[str, str]) -> str:
    """`.env` with each variable's value replaced (its quotes kept), everything else as it was."""
    if not edits:
        return env_text
    lines = env_text.splitlines(keepends=True)
    done: set[str] = set()
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        match = _ENV_LINE.match(body)
        if match is None or match["key"] not in edits:
            continue
        value = match["value"].rstrip()
        quote = value[:1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else ""
        inner = value[1:-1] if quote else value
        if not TAG.fullmatch(inner):
            raise InvalidArgument(
                f"{match['key']} in .env is not just a tag ({inner!r}); edit the app's files to change it"
            )
        lines[index] = f"{match['head']}{quote}{edits[match['key']]}{quote}{line[len(body) :]}"
        done.add(match["key"])
    missing = sorted(set(edits) - done)
    if missing:
        raise InvalidArgument(
            f"the image's tag comes from {missing[0]}, which .env does not set (a default or the "
            "server's environment); edit the app's files to change it"
        )
    return "".join(lines)
