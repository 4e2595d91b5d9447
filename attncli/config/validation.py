"""Validation: a YAML Document (plus command-line overrides) -> Settings, every problem collected.

Key by key (:class:`Validator`), then the widths (``d_model`` from the embeddings or tensors, then
the projections and heads), then the derived numbers (:mod:`attncli.config.derived`): the divisor's
range and the tensor budget. Nothing here imports torch.
"""

from __future__ import annotations

import re
from typing import Any

from attncli.config.derived import DEFAULT_BUDGET_MB, check_budget, check_divisor
from attncli.config.reader import Document, Path_
from attncli.config.settings import AttentionSettings, Settings, TensorSpec
from attncli.config.values import Checker, _show, _type_name
from attncli.errors import AttnError

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


class Validator(Checker):
    """Turns a Document (plus command-line overrides) into Settings, collecting problems.

    ``budget_mb`` is the tensor budget (``--max-weights-mb``) the implied tensors must fit.
    """

    def __init__(self, doc: Document, overrides: dict[Path_, tuple[Any, str]] | None = None,
                 budget_mb: float = DEFAULT_BUDGET_MB):
        super().__init__(doc, overrides)
        self.budget_mb = budget_mb

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
                self.problem(("device",), f"unknown device {_show(device)}",
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
            self._tensors(data["tensors"], s)
        else:
            if data.get("embeddings") is not None:
                self._embeddings(data["embeddings"], s)
            self._widths(s)
        if not self.problems:  # widths are sound: the numbers they imply can be checked
            for path, message, hint in check_divisor(s) + check_budget(s, self.budget_mb):
                self.problem(path, message, hint)
        if self.problems:
            raise self.failure()
        return s


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

    def _tensors(self, t: Any, s: Settings) -> None:
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

    def _widths(self, s: Settings) -> None:
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
