"""Parsing YAML safely: guards against hostile documents, and a position for every key path.

The guards, each checked before the work it protects (the size limit is :mod:`attncli.config.files`'s):

* depth: the event stream is walked first, and nesting beyond :data:`MAX_DEPTH` levels is
  refused at the first too-deep node, before PyYAML's (recursive, C) composer sees it;
* aliases: at most :data:`MAX_CONFIG_NODES` values once every alias is expanded (alias bombs),
  and no nesting through aliases beyond :data:`MAX_DEPTH` either;
* tags: only the plain YAML types (:data:`PLAIN_TAGS`) on any node, scalar, list or mapping.

Only PyYAML's safe loader is used; nothing here imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from attncli.errors import AttnError

#: Values visited while reading one config (defends against YAML alias bombs).
MAX_CONFIG_NODES = 500_000
#: Lists and mappings nested deeper than this are refused (a config needs four or five levels).
MAX_DEPTH = 64

_YAML = "tag:yaml.org,2002:"
#: The only tags a node may carry, written or implied: plain values, lists, mappings, `<<` merges.
PLAIN_TAGS = frozenset(_YAML + name for name in
                       ("null", "bool", "int", "float", "str", "seq", "map", "merge", "timestamp"))

Path_ = tuple  # a key path such as ("attention", "heads") or ("embeddings", "bank", 2)


@dataclass
class Document:
    """A YAML document as plain Python values plus the position of every key path."""

    data: Any
    marks: dict[Path_, tuple[int, int]]
    filename: str | None


def config_error(message: str, where: str | None, hint: str | None = None) -> AttnError:
    return AttnError(message, where=where, hint=hint, kind="config")


# --------------------------------------------------------------------------- text -> document


def _loader_class():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _at(label: str, mark) -> str:
    return f"{label}:{mark.line + 1}:{mark.column + 1}"


def _too_deep(label: str, mark) -> AttnError:
    return config_error(f"lists and mappings nested deeper than {MAX_DEPTH} levels", _at(label, mark),
                         "a config needs only a few levels")


def _too_large(label: str) -> AttnError:
    return config_error(f"config is too large: more than {MAX_CONFIG_NODES:,} values after expanding aliases",
                         label, "is it a YAML alias bomb?")


def check_depth(text: str, label: str) -> None:
    """Walk the event stream (no recursion) and refuse the first node nested too deep.

    The fast (libyaml) parser is tried first. Newer libyaml builds refuse deep flow collections
    themselves, while scanning ahead of the events (PyYAML 6.0.4: "exceeded maximum nesting depth"
    at level 1000), so when the fast walk fails for any reason the walk is repeated with PyYAML's
    pure-Python parser, which has no limit of its own: attncli's limit and position hold with any
    PyYAML >= 6.0. A document that fails both ways is left for the loader to report.
    """
    import yaml

    try:
        _walk_depth(text, label, _loader_class())
    except yaml.YAMLError:
        if _loader_class() is yaml.SafeLoader:
            raise
        _walk_depth(text, label, yaml.SafeLoader)  # raises the depth error first, if that is the cause
        raise


def _walk_depth(text: str, label: str, loader) -> None:
    import yaml

    opening = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    closing = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        kind = type(event)
        if kind in opening:
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(label, event.start_mark)
        elif kind in closing:
            depth -= 1


def parse_yaml(text: str, filename: str | None = None) -> Document:
    """Parse YAML text safely, keeping positions. Raises AttnError (exit 2)."""
    import yaml

    label = filename or "<config>"
    loader = None
    try:
        try:
            check_depth(text, label)
            loader = _loader_class()(text)
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = _at(label, mark) if mark else label
            raise config_error(f"invalid YAML: {exc.problem or exc.context or 'invalid YAML'}", where) from None
        except yaml.YAMLError as exc:  # ReaderError: control characters, bad encoding
            position = getattr(exc, "position", None)
            reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
            raise config_error(f"not a readable YAML text file ({reason})",
                                f"{label}:{position}" if position is not None else label,
                                "is this a binary file?") from None
        marks: dict[Path_, tuple[int, int]] = {}
        if node is None:
            return Document(None, marks, filename)
        if _expanded_size(node, {}, set(), 1, label) > MAX_CONFIG_NODES:
            raise _too_large(label)
        walker = _Walker(loader, label, marks)
        return Document(walker.walk(node, (), 1), marks, filename)
    finally:
        if loader is not None:
            loader.dispose()


def _children(node) -> list:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return node.value
    return [part for pair in node.value for part in pair]


def _expanded_size(node, memo: dict, active: set, depth: int, label: str) -> int:
    """How many nodes the document has once every alias is expanded (computed without expanding).

    Also refuses nesting built from aliases (each list holding the one before): the event
    stream cannot see it. ``memo`` keeps (size, height) per node, height counting collections.
    """
    return _measure(node, memo, active, depth, label)[0]


def _measure(node, memo: dict, active: set, depth: int, label: str) -> tuple[int, int]:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return 1, 0
    key = id(node)
    if key in active:  # a recursive alias: reported while walking
        return 1, 0
    if key in memo:
        size, height = memo[key]
    else:
        if depth > MAX_DEPTH:
            raise _too_deep(label, node.start_mark)
        active.add(key)
        size, height = 1, 1
        for child in _children(node):
            child_size, child_height = _measure(child, memo, active, depth + 1, label)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_CONFIG_NODES:
                break
        active.discard(key)
        memo[key] = (size, height)
    if depth + height - 1 > MAX_DEPTH:  # reached again through an alias, deeper than before
        raise _too_deep(label, node.start_mark)
    return size, height


_FLOAT_TAG = _YAML + "float"
_INT_TAG = _YAML + "int"
_PLAIN_INT = re.compile(r"^[0-9]{1,18}$")  # ASCII digits only (isdigit() takes '²'), short enough for int()
_PLAIN_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?$")


def short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


class _Walker:
    """Nodes -> plain values, recording the line and column of every key path."""

    def __init__(self, loader, label: str, marks: dict) -> None:
        self.loader = loader
        self.label = label
        self.marks = marks
        self.left = MAX_CONFIG_NODES
        self.active: set[int] = set()

    def where(self, path: Path_) -> str:
        return fmt_where(self.label, self.marks, path)

    def check_tag(self, node, path: Path_) -> None:
        if node.tag not in PLAIN_TAGS:
            raise config_error(f"unsupported YAML tag {short_tag(node.tag)!r}", self.where(path),
                                "only plain values, lists and mappings are allowed")

    def walk(self, node, path: Path_, depth: int) -> Any:
        import yaml

        self.left -= 1
        if self.left < 0:
            raise _too_large(self.label)
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        self.check_tag(node, path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if depth > MAX_DEPTH:
            raise _too_deep(self.label, node.start_mark)
        if id(node) in self.active:
            raise config_error("recursive YAML alias", self.where(path))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.walk(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node, path: Path_) -> Any:
        import yaml

        if node.tag == _FLOAT_TAG and _PLAIN_FLOAT.match(node.value):
            return float(node.value)  # fast path for the bulk of a config: plain numbers
        if node.tag == _INT_TAG and _PLAIN_INT.match(node.value):
            return int(node.value)
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - malformed values: !!int abc (ValueError), !!bool x (KeyError)
            if isinstance(exc, yaml.YAMLError):
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                hint = "only plain values, lists and mappings are allowed"
            else:  # a value its type cannot hold: 5,000 digits, '²' as !!int
                shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
                problem, hint = f"cannot read {shown!r} as {short_tag(node.tag)}", "write a plain value"
            raise config_error(f"unsupported YAML value: {problem}", self.where(path), hint) from None

    def mapping(self, node, path: Path_, depth: int) -> dict[str, Any]:
        import yaml

        try:
            self.loader.flatten_mapping(node)  # `<<: *base` merges
        except yaml.MarkedYAMLError as exc:
            raise config_error(f"invalid YAML merge (<<): {exc.problem or exc.context}", self.where(path),
                                "merge a mapping or a list of mappings") from None
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                raise config_error("mapping keys must be plain words",
                                    fmt_where(self.label, {path: position}, path))
            key = str(key_node.value)  # the text as written: `no:` stays the token "no"
            child = path + (key,)
            if key in result:
                raise config_error(f"duplicate key {key!r}", f"{self.label}:{position[0]}:{position[1]}: "
                                    + dotted(child))
            self.marks[child] = position
            self.check_tag(key_node, child)
            result[key] = self.walk(value_node, child, depth + 1)
        return result


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            out += ("." if out else "") + (part if len(part) <= 40 else part[:37] + "...")
    return out or "(top level)"


def fmt_where(label: str, marks: dict, path: Path_) -> str:
    if path in marks:
        line, col = marks[path]
        return f"{label}:{line}:{col}: {dotted(path)}"
    return f"{label}: {dotted(path)}"
