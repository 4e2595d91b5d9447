"""YAML -> validated settings, with ``file:line:col`` in every error.

The YAML text is composed into PyYAML nodes with the *safe* loader only (no
arbitrary Python objects), walked by hand so that every key path keeps the line
and column it came from, and checked by :class:`Validator`, which collects every
problem it finds (``attncli config validate`` prints them all; other commands
print them as one short block).

Command-line options override the file; an error about an overridden value names
the option (``--heads``), not the key.

This module imports neither torch nor Rich: ``config show`` and ``config
validate`` stay fast.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attncli.dtypes import DTYPE_ALIASES, DTYPES, canonical_dtype  # noqa: F401  (re-exported)
from attncli.errors import AttnError, ExitCode

#: A config file larger than this is refused before it is parsed.
MAX_CONFIG_BYTES = 2 * 1024 * 1024
#: Nodes visited while reading one config (defends against YAML alias bombs).
MAX_CONFIG_NODES = 500_000

POSITIONAL_KINDS = ("none", "sinusoidal", "rope")
PROJECTION_KINDS = ("identity", "random")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

TOP_KEYS = ("description", "embeddings", "tensors", "attention", "device", "dtype")
ATTENTION_KEYS = (
    "scale", "temperature", "heads", "causal", "positional", "projections",
    "seed", "d_k", "d_v", "residual", "layer_norm",
)
TENSOR_KEYS = ("tokens", "query", "key", "value")
MATRIX_KEYS = ("query", "key", "value", "output")

Path_ = tuple  # a key path such as ("attention", "heads") or ("embeddings", "bank", 2)


# --------------------------------------------------------------------------- settings


@dataclass
class TensorSpec:
    """Query, key and value given directly, one row per token."""

    tokens: list[str]
    query: list[list[float]]
    key: list[list[float]]
    value: list[list[float]]


@dataclass
class AttentionSettings:
    scale: bool | float = True
    temperature: float = 1.0
    heads: int = 1
    causal: bool = False
    positional: str = "none"
    projections: str = "identity"  # identity | random | explicit
    matrices: dict[str, list[list[float]]] | None = None  # explicit: query/key/value[/output]
    seed: int = 0
    d_k: int | None = None
    d_v: int | None = None
    residual: bool = False
    layer_norm: bool = False


@dataclass
class Settings:
    """A fully validated configuration with every width resolved."""

    attention: AttentionSettings = field(default_factory=AttentionSettings)
    description: str | None = None
    #: Where the config came from: a bundled name, a path, or None for defaults.
    source: str | None = None
    source_kind: str = "defaults"  # defaults | bundled | file
    embeddings: dict[str, list[float]] | None = None  # lower-cased token -> vector
    tensors: TensorSpec | None = None
    device: str = "cpu"
    dtype: str = "float32"
    d_model: int = 4
    d_k: int = 4  # total query/key width (all heads)
    d_v: int = 4  # total value width (all heads)
    d_out: int = 4  # width of the context vectors

    @property
    def embeddings_source(self) -> str:
        if self.tensors is not None:
            return "tensors"
        if self.embeddings is not None:
            return "inline"
        return "built-in"

    @property
    def head_dim_k(self) -> int:
        return self.d_k // self.attention.heads

    @property
    def head_dim_v(self) -> int:
        return self.d_v // self.attention.heads

    @property
    def divisor(self) -> float:
        """What the scores are divided by: the scale times the temperature."""
        a = self.attention
        if a.scale is True:
            scale = math.sqrt(self.head_dim_k)
        elif a.scale is False:
            scale = 1.0
        else:
            scale = float(a.scale)
        return scale * a.temperature

    def to_config(self) -> dict[str, Any]:
        """A config document with every default written out: feeding it back gives the same settings."""
        a = self.attention
        if a.projections == "explicit" and a.matrices:
            projections: Any = {k: v for k, v in a.matrices.items()}
        else:
            projections = a.projections
        doc: dict[str, Any] = {"description": self.description}
        if self.tensors is not None:
            doc["tensors"] = {"tokens": list(self.tensors.tokens), "query": self.tensors.query,
                              "key": self.tensors.key, "value": self.tensors.value}
        else:
            doc["embeddings"] = self.embeddings
        doc["attention"] = {
            "scale": a.scale, "temperature": a.temperature, "heads": a.heads, "causal": a.causal,
            "positional": a.positional, "projections": projections, "seed": a.seed,
            "d_k": self.d_k if a.projections == "random" else None,
            "d_v": self.d_v if a.projections == "random" else None,
            "residual": a.residual, "layer_norm": a.layer_norm,
        }
        if self.tensors is not None:
            for key in ("projections", "d_k", "d_v", "residual", "seed"):
                doc["attention"].pop(key)
            doc["attention"].pop("positional")
        doc["device"] = self.device
        doc["dtype"] = self.dtype
        return doc

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings, every default filled in (the JSON ``config``)."""
        a = self.attention
        if a.scale is True:
            scale: Any = True
        elif a.scale is False:
            scale = False
        else:
            scale = float(a.scale)
        return {
            "source": self.source,
            "source_kind": self.source_kind,
            "description": self.description,
            "embeddings": {
                "source": self.embeddings_source,
                "file": self.source if self.source_kind == "file" and self.embeddings is not None else None,
                "d_model": self.d_model,
                "size": len(self.embeddings) if self.embeddings is not None else None,
            },
            "attention": {
                "scale": scale,
                "divisor": self.divisor,
                "temperature": a.temperature,
                "heads": a.heads,
                "causal": a.causal,
                "positional": a.positional,
                "projections": a.projections,
                "output_projection": bool(a.matrices and "output" in a.matrices),
                "seed": a.seed,
                "d_k": self.d_k,
                "d_v": self.d_v,
                "d_head_k": self.head_dim_k,
                "d_head_v": self.head_dim_v,
                "d_out": self.d_out,
                "residual": a.residual,
                "layer_norm": a.layer_norm,
            },
            "device": self.device,
            "dtype": self.dtype,
        }


# --------------------------------------------------------------------------- YAML reading


@dataclass
class Document:
    """A YAML document as plain Python values plus the position of every key path."""

    data: Any
    marks: dict[Path_, tuple[int, int]]
    filename: str | None


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit


def _loader_class():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, filename: str | None = None) -> Document:
    """Parse YAML text safely, keeping positions. Raises AttnError (exit 2)."""
    import yaml

    label = filename or "<config>"
    loader = _loader_class()(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
            problem = exc.problem or exc.context or "invalid YAML"
            raise AttnError(f"invalid YAML: {problem}", where=where, kind="config") from None
        except yaml.YAMLError as exc:  # ReaderError: control characters, bad encoding
            position = getattr(exc, "position", None)
            reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
            where = f"{label}:{position}" if position is not None else label
            raise AttnError(
                f"not a readable YAML text file ({reason})",
                where=where,
                hint="is this a binary file?",
                kind="config",
            ) from None
        marks: dict[Path_, tuple[int, int]] = {}
        if node is None:
            return Document(None, marks, filename)
        if _expanded_size(node, {}, set()) > MAX_CONFIG_NODES:
            raise AttnError(
                f"config is too large: more than {MAX_CONFIG_NODES:,} values after expanding aliases",
                where=label, hint="is it a YAML alias bomb?", kind="config",
            )
        budget = _Budget(MAX_CONFIG_NODES)
        data = _walk(loader, node, (), marks, budget, label, set())
        return Document(data, marks, filename)
    finally:
        loader.dispose()


_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_PLAIN_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?$")


def _expanded_size(node, memo: dict, active: set) -> int:
    """How many nodes the document has once every alias is expanded (computed without expanding)."""
    import yaml

    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, yaml.ScalarNode):
        return 1
    if key in active:  # a recursive alias: reported while walking
        return 1
    active.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = [part for pair in node.value for part in pair]
    total = 1
    for child in children:
        total += _expanded_size(child, memo, active)
        if total > MAX_CONFIG_NODES:
            break
    active.discard(key)
    memo[key] = total
    return total


def _walk(loader, node, path, marks, budget, label, active) -> Any:
    import yaml

    budget.left -= 1
    if budget.left < 0:
        raise AttnError(
            f"config is too large: more than {MAX_CONFIG_NODES:,} values after expanding aliases",
            where=label,
            hint="is it a YAML alias bomb?",
            kind="config",
        )
    marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _FLOAT_TAG and _PLAIN_FLOAT.match(node.value):
            return float(node.value)  # fast path for the bulk of a config: plain numbers
        if node.tag == _INT_TAG and node.value.isdigit():
            return int(node.value)
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # unknown tags (!!python/object, '=') and malformed values
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise AttnError(f"unsupported YAML value: {problem}", where=_fmt(label, marks, path),
                            hint="only plain values, lists and mappings are allowed", kind="config") from None
    if id(node) in active:
        raise AttnError("recursive YAML alias", where=_fmt(label, marks, path), kind="config")
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [
                _walk(loader, item, path + (i,), marks, budget, label, active)
                for i, item in enumerate(node.value)
            ]
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise AttnError(
                        "mapping keys must be plain words",
                        where=_fmt(label, {path: (key_node.start_mark.line + 1, key_node.start_mark.column + 1)}, path),
                        kind="config",
                    )
                key = str(key_node.value)  # the text as written: `no:` stays the token "no"
                child = path + (key,)
                if key in result:
                    line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    raise AttnError(
                        f"duplicate key {key!r}",
                        where=f"{label}:{line}:{col}: {_dotted(child)}",
                        kind="config",
                    )
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = _walk(loader, value_node, child, marks, budget, label, active)
            return result
    finally:
        active.discard(id(node))
    raise AttnError("unsupported YAML node", where=_fmt(label, marks, path), kind="config")  # pragma: no cover


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fmt(label: str, marks: dict, path: Path_) -> str:
    if path in marks:
        line, col = marks[path]
        return f"{label}:{line}:{col}: {_dotted(path)}"
    return f"{label}: {_dotted(path)}"


# --------------------------------------------------------------------------- locating configs


def bundled_dir() -> Path:
    """The folder of bundled configs: ``attncli/configs`` in a wheel, ``configs/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if candidate.is_dir():
            return candidate
    return here / "configs"


def bundled_names() -> list[str]:
    folder = bundled_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))


def locate(name_or_path: str) -> tuple[Path, str]:
    """Resolve ``-c`` to a file: an existing path first, then a bundled name.

    Returns (path, kind) where kind is "file" or "bundled".
    """
    if not name_or_path or not name_or_path.strip():
        raise AttnError("empty config name", where="--config", kind="config")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        raise AttnError(
            "is a directory, not a config file", where=f"--config {name_or_path}",
            hint="give a .yaml file or a bundled config name", kind="config",
        )
    if path.exists():
        return path, "file"
    stem = name_or_path[:-5] if name_or_path.endswith(".yaml") else name_or_path
    if "/" not in stem and "\\" not in stem:
        candidate = bundled_dir() / f"{stem}.yaml"
        if candidate.is_file():
            return candidate, "bundled"
    names = bundled_names()
    close = difflib.get_close_matches(stem, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "run 'attncli config list' for the bundled configs"
    raise AttnError(
        f"no config file or bundled config named {name_or_path!r}",
        where="--config", hint=hint, kind="config",
    )


def read_document(name_or_path: str) -> tuple[Document, str, str]:
    """Read and parse a config. Returns (document, source label, kind)."""
    path, kind = locate(name_or_path)
    label = path.stem if kind == "bundled" else str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise AttnError(
                f"config file is too large ({size / 1e6:.1f} MB; the limit is {MAX_CONFIG_BYTES // (1024 * 1024)} MiB)",
                where=label, kind="config",
            )
        raw = path.read_bytes()
    except AttnError:
        raise
    except OSError as exc:
        raise AttnError(f"cannot read config: {exc.strerror or exc}", where=label, kind="config") from None
    if b"\x00" in raw:
        raise AttnError("not a text file (it contains NUL bytes)", where=label,
                        hint="is this a binary file?", kind="config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AttnError(
            f"not a UTF-8 text file (byte {exc.start})", where=label,
            hint="is this a binary file?", kind="config",
        ) from None
    return parse_yaml(text, label), label, kind


# --------------------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Validator:
    """Turns a Document (plus command-line overrides) into Settings, collecting problems."""

    def __init__(self, doc: Document, overrides: dict[Path_, tuple[Any, str]] | None = None):
        self.doc = doc
        self.label = doc.filename or "<config>"
        self.overrides = overrides or {}
        self.problems: list[AttnError] = []

    # -- reporting
    def where(self, path: Path_) -> str:
        # An option that set this key, or a parent of it, is named instead of the key.
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.overrides:
                return self.overrides[path[:cut]][1]
        if self.doc.filename is None:
            return _dotted(path)
        return _fmt(self.label, self.doc.marks, path)

    def problem(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.problems.append(AttnError(message, where=self.where(path), hint=hint, kind="config"))

    def unknown_keys(self, mapping: dict, allowed: tuple, path: Path_) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
                self.problem(path + (key,), f"unknown key {key!r}", hint)

    # -- typed getters (return None after recording a problem)
    def boolean(self, value: Any, path: Path_) -> bool | None:
        if isinstance(value, bool):
            return value
        self.problem(path, f"expected true or false, got {_type_name(value)} ({value!r})")
        return None

    def number(self, value: Any, path: Path_, *, positive: bool = False) -> float | None:
        if not _is_number(value):
            hint = None
            if isinstance(value, str):
                try:
                    float(value)
                    hint = "YAML reads this as text: write 1.0e+3 rather than 1e3"
                except ValueError:
                    pass
            self.problem(path, f"expected a number, got {_type_name(value)} ({value!r})", hint)
            return None
        value = float(value)
        if not math.isfinite(value):
            self.problem(path, f"expected a finite number, got {value}")
            return None
        if positive and value <= 0:
            self.problem(path, f"must be greater than 0, got {value:g}")
            return None
        return value

    def integer(self, value: Any, path: Path_, *, minimum: int) -> int | None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(path, f"expected a whole number, got {_type_name(value)} ({value!r})")
            return None
        if value < minimum:
            self.problem(path, f"must be at least {minimum}, got {value}")
            return None
        if value >= 2**63:
            self.problem(path, f"is too large ({value})")
            return None
        return value

    def choice(self, value: Any, path: Path_, choices: tuple) -> str | None:
        if value is None and "none" in choices:
            return "none"
        if not isinstance(value, str):
            self.problem(path, f"expected one of {', '.join(choices)}; got {_type_name(value)} ({value!r})")
            return None
        key = value.strip().lower()
        if key in choices:
            return key
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        self.problem(path, f"unknown value {value!r}; expected one of {', '.join(choices)}", hint)
        return None

    def dtype(self, value: Any, path: Path_) -> str | None:
        if not isinstance(value, str):
            return self.choice(value, path, DTYPES)  # records "expected one of ...; got ..."
        try:
            return canonical_dtype(value, self.where(path), kind="config")
        except AttnError as exc:
            self.problems.append(exc)
            return None

    def vector(self, value: Any, path: Path_, *, length: int | None = None) -> list[float] | None:
        if not isinstance(value, list):
            self.problem(path, f"expected a list of numbers, got {_type_name(value)}")
            return None
        if not value:
            self.problem(path, "empty vector")
            return None
        out = []
        for i, item in enumerate(value):
            if not _is_number(item):
                self.problem(path + (i,), f"expected a number, got {_type_name(item)} ({item!r})")
                return None
            if not math.isfinite(item):
                self.problem(path + (i,), f"expected a finite number, got {item}",
                             "NaN and infinite values are not allowed")
                return None
            out.append(float(item))
        if length is not None and len(out) != length:
            self.problem(path, f"expected {length} numbers, got {len(out)}",
                         "every vector must have the same length")
            return None
        return out

    def matrix(self, value: Any, path: Path_, *, rows: int | None = None, cols: int | None = None,
               what: str = "rows") -> list[list[float]] | None:
        if not isinstance(value, list):
            self.problem(path, f"expected a matrix (a list of rows), got {_type_name(value)}")
            return None
        if not value:
            self.problem(path, "empty matrix")
            return None
        if rows is not None and len(value) != rows:
            self.problem(path, f"expected {rows} {what}, got {len(value)}")
            return None
        out: list[list[float]] = []
        width = cols
        for i, row in enumerate(value):
            vec = self.vector(row, path + (i,), length=width)
            if vec is None:
                return None
            width = len(vec)
            out.append(vec)
        return out

    # -- the whole document
    def settings(self) -> Settings:
        data = self.doc.data
        s = Settings()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.problems.append(AttnError(
                f"a config must be a mapping of keys (attention:, embeddings:, ...), got {_type_name(data)}",
                where=self.label if self.doc.filename else None, kind="config"))
            raise self.failure()
        self.unknown_keys(data, TOP_KEYS, ())

        if "description" in data:
            if isinstance(data["description"], str):
                s.description = data["description"].strip()
            elif data["description"] is not None:
                self.problem(("description",), f"expected text, got {_type_name(data['description'])}")
        if "device" in data:
            device = data["device"]
            if isinstance(device, str) and DEVICE_PATTERN.match(device.strip().lower()):
                s.device = device.strip().lower()
            else:
                self.problem(("device",), f"unknown device {device!r}",
                             "expected auto, cpu, cuda, cuda:N or mps")
        if "dtype" in data:
            dtype = self.dtype(data["dtype"], ("dtype",))
            if dtype:
                s.dtype = dtype

        attention = data.get("attention")
        if attention is None:
            attention = {}
        if not isinstance(attention, dict):
            self.problem(("attention",), f"expected a mapping, got {_type_name(attention)}")
            attention = {}
        self._attention(attention, s.attention)

        # Widths: d_model from the embeddings (or the tensors), then the projections.
        has_tensors = data.get("tensors") is not None
        if has_tensors and data.get("embeddings") is not None:
            self.problem(("tensors",), "give either embeddings or tensors, not both")
        if has_tensors:
            self._tensors(data["tensors"], s, attention)
        else:
            if data.get("embeddings") is not None:
                self._embeddings(data["embeddings"], s)
            self._widths(s, attention)
        if self.problems:
            raise self.failure()
        return s

    def failure(self) -> AttnError:
        first = self.problems[0]
        rest = [p.line() for p in self.problems[1:]]
        return AttnError(first.message, where=first.where, hint=first.hint, kind="config",
                         code=ExitCode.USAGE, details=rest)

    def _attention(self, a: dict, out: AttentionSettings) -> None:
        p = ("attention",)
        self.unknown_keys(a, ATTENTION_KEYS, p)
        if "scale" in a:
            v = a["scale"]
            if isinstance(v, bool):
                out.scale = v
            else:
                n = self.number(v, p + ("scale",), positive=True)
                if n is not None:
                    out.scale = n
        if "temperature" in a:
            n = self.number(a["temperature"], p + ("temperature",), positive=True)
            if n is not None:
                out.temperature = n
        if "heads" in a:
            n = self.integer(a["heads"], p + ("heads",), minimum=1)
            if n is not None:
                out.heads = n
        for key in ("causal", "residual", "layer_norm"):
            if key in a:
                b = self.boolean(a[key], p + (key,))
                if b is not None:
                    setattr(out, key, b)
        if "positional" in a:
            c = self.choice(a["positional"], p + ("positional",), POSITIONAL_KINDS)
            if c:
                out.positional = c
        if "seed" in a:
            n = self.integer(a["seed"], p + ("seed",), minimum=0)
            if n is not None:
                out.seed = n
        for key in ("d_k", "d_v"):
            if key in a and a[key] is not None:
                n = self.integer(a[key], p + (key,), minimum=1)
                if n is not None:
                    setattr(out, key, n)
        if "projections" in a:
            proj = a["projections"]
            if isinstance(proj, dict):
                out.projections = "explicit"
                self.unknown_keys(proj, MATRIX_KEYS, p + ("projections",))
                missing = [k for k in ("query", "key", "value") if k not in proj]
                if missing:
                    self.problem(p + ("projections",), "explicit projections need " + ", ".join(missing),
                                 "give query, key and value matrices (output is optional)")
                out.matrices = {k: proj[k] for k in MATRIX_KEYS if k in proj}  # shapes checked later
            else:
                c = self.choice(proj, p + ("projections",), PROJECTION_KINDS)
                if c:
                    out.projections = c

    def _embeddings(self, emb: Any, s: Settings) -> None:
        path = ("embeddings",)
        if not isinstance(emb, dict):
            self.problem(path, f"expected a mapping of token: [numbers], got {_type_name(emb)}")
            return
        if not emb:
            self.problem(path, "no embeddings given")
            return
        table: dict[str, list[float]] = {}
        length: int | None = None
        for token, vec in emb.items():
            vpath = path + (token,)
            if not token.strip():
                self.problem(vpath, "empty token")
                continue
            v = self.vector(vec, vpath, length=length)
            if v is None:
                continue
            length = len(v)
            key = token.lower()
            if key in table:
                self.problem(vpath, f"token {token!r} is given twice (lookup is case-insensitive)")
                continue
            table[key] = v
        s.embeddings = table
        if length is not None:
            s.d_model = length

    def _tensors(self, t: Any, s: Settings, attention: dict) -> None:
        path = ("tensors",)
        if not isinstance(t, dict):
            self.problem(path, f"expected a mapping with query, key and value, got {_type_name(t)}")
            return
        self.unknown_keys(t, TENSOR_KEYS, path)
        for key in ("query", "key", "value"):
            if key not in t:
                self.problem(path, f"missing {key}", "tensors need query, key and value matrices")
        if self.problems:
            return
        a = s.attention
        for key, bad in (("projections", a.projections != "identity"), ("positional", a.positional != "none"),
                         ("residual", a.residual)):
            if bad:
                self.problem(("attention", key), f"{key} does not apply to a tensors config",
                             "tensors give the queries, keys and values directly")
        query = self.matrix(t["query"], path + ("query",))
        if query is None:
            return
        n, dk = len(query), len(query[0])
        key_m = self.matrix(t["key"], path + ("key",), rows=n, cols=dk)
        value = self.matrix(t["value"], path + ("value",), rows=n)
        tokens: list[str] = [str(i) for i in range(n)]
        if t.get("tokens") is not None:
            raw = t["tokens"]
            if not isinstance(raw, list) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in raw):
                self.problem(path + ("tokens",), "expected a list of token labels")
            elif len(raw) != n:
                self.problem(path + ("tokens",), f"expected {n} labels (one per query row), got {len(raw)}")
            else:
                tokens = [str(x) for x in raw]
        if key_m is None or value is None:
            return
        s.tensors = TensorSpec(tokens=tokens, query=query, key=key_m, value=value)
        s.d_model = dk
        s.d_k = dk
        s.d_v = len(value[0])
        s.d_out = s.d_v
        self._heads(s)

    def _widths(self, s: Settings, attention: dict) -> None:
        a = s.attention
        d = s.d_model
        proj_path = ("attention", "projections")
        if a.projections != "random":
            for key in ("d_k", "d_v"):
                if getattr(a, key) is not None:
                    self.problem(("attention", key), f"{key} applies only to projections: random",
                                 "explicit matrices set their own widths; identity keeps d_model")
        if a.projections == "identity":
            s.d_k = s.d_v = s.d_out = d
        elif a.projections == "random":
            s.d_k = a.d_k or d
            s.d_v = a.d_v or s.d_k
            s.d_out = s.d_v
        elif a.projections == "explicit" and a.matrices is not None:
            m = a.matrices
            q = self.matrix(m.get("query"), proj_path + ("query",), rows=d, what="rows (d_model)")
            k = self.matrix(m.get("key"), proj_path + ("key",), rows=d, what="rows (d_model)",
                            cols=len(q[0]) if q else None)
            v = self.matrix(m.get("value"), proj_path + ("value",), rows=d, what="rows (d_model)")
            if q is None or k is None or v is None:
                return
            resolved = {"query": q, "key": k, "value": v}
            s.d_k, s.d_v = len(q[0]), len(v[0])
            s.d_out = s.d_v
            if m.get("output") is not None:
                o = self.matrix(m["output"], proj_path + ("output",), rows=s.d_v, what="rows (d_v, the value width)")
                if o is None:
                    return
                resolved["output"] = o
                s.d_out = len(o[0])
            a.matrices = resolved
        self._heads(s)
        if a.residual and s.d_out != d:
            self.problem(("attention", "residual"),
                         f"residual needs the output width ({s.d_out}) to equal the embedding width ({d})",
                         "add an output projection of shape d_v x d_model, or turn residual off")

    def _heads(self, s: Settings) -> None:
        a = s.attention
        path = ("attention", "heads")
        if s.d_k % a.heads:
            self.problem(path, f"{a.heads} heads do not divide the query/key width {s.d_k}",
                         f"choose a divisor of {s.d_k}")
        elif s.d_v % a.heads:
            self.problem(path, f"{a.heads} heads do not divide the value width {s.d_v}",
                         f"choose a divisor of {s.d_v}")
        elif a.positional == "rope" and (s.d_k // a.heads) % 2:
            self.problem(("attention", "positional"),
                         f"rope needs an even per-head query/key width, got {s.d_k // a.heads}",
                         "change d_k or heads, or use sinusoidal")


def _set_path(data: dict, path: Path_, value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def load_settings(
    name_or_path: str | None = None,
    overrides: dict[Path_, tuple[Any, str]] | None = None,
) -> Settings:
    """Read a config (or the defaults), apply command-line overrides, validate.

    ``overrides`` maps a key path to ``(value, option name)``; the option name is
    what errors about that value mention.
    """
    if name_or_path is None:
        doc, label, kind = Document({}, {}, None), None, "defaults"
    else:
        doc, label, kind = read_document(name_or_path)
    overrides = {k: v for k, v in (overrides or {}).items() if v[0] is not None}
    if overrides:
        if doc.data is None:
            doc.data = {}
        if isinstance(doc.data, dict):
            for path, (value, _option) in overrides.items():
                _set_path(doc.data, path, value)
    validator = Validator(doc, overrides)
    settings = validator.settings()
    settings.source = label
    settings.source_kind = kind
    return settings


def check_problems(name_or_path: str) -> tuple[Settings | None, list[str]]:
    """Every problem in a config, for ``config validate``: (settings or None, lines)."""
    try:
        doc, label, kind = read_document(name_or_path)
    except AttnError as exc:
        return None, [exc.line()]
    validator = Validator(doc)
    try:
        settings = validator.settings()
    except AttnError:
        return None, [p.line() for p in validator.problems]
    settings.source, settings.source_kind = label, kind
    return settings, []
