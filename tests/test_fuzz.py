"""Fuzzing: hypothesis-generated configs and texts, valid and not, through the loader and the CLI.

Every input must end in either a result that passes the invariants, or a clean
error (exit 2, one message, empty stdout). Run longer with
``ATTNCLI_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile

import yaml
import hypothesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attncli.config import parse_yaml, Validator
from attncli.errors import AttnError
from conftest import cli

EXAMPLES = int(os.environ.get("ATTNCLI_FUZZ_EXAMPLES", "100"))  # hypothesis' own default; 300 cost ~1 min more
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

WORDS = ["the", "cat", "sat", "bank", "mud", "Zork", "x1", "a", "b", "apple", "it's", "well-known", "émile"]
junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 10), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=8), st.lists(st.integers(-2, 2), max_size=3))
good_number = st.one_of(st.floats(-3, 3, allow_nan=False), st.integers(-3, 3))
number = st.one_of(*[good_number] * 12, st.just(float("nan")), st.just(1e30), st.text(max_size=2))


JUNKY = True


def mostly(valid, bad=junk):
    """Valid values, or (in the junky half of the fuzzing) sometimes wrong ones."""
    return st.one_of(valid, bad) if JUNKY else valid


def vectors(dim):
    return st.lists(number if JUNKY else good_number, min_size=dim, max_size=dim)


@st.composite
def configs(draw, junky: bool = True):
    global JUNKY
    JUNKY = junky
    doc: dict = {}
    dim = draw(st.integers(1, 6))
    if draw(st.booleans()):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=5, unique=True))
        doc["embeddings"] = {w: draw(mostly(vectors(dim), st.one_of(vectors(draw(st.integers(0, 6))), junk)))
                             for w in words}
    attention = {}
    for key, values in {
        "scale": mostly(st.one_of(st.booleans(), st.floats(0.1, 5)), st.one_of(st.floats(-1, 0), junk)),
        "temperature": mostly(st.floats(0.05, 5), st.one_of(st.floats(-1, 0), junk)),
        "heads": mostly(st.sampled_from([1, 1, 2]), st.one_of(st.integers(0, 5), junk)),
        "causal": mostly(st.booleans()),
        "positional": mostly(st.sampled_from(["none", "sinusoidal", "rope"]), st.one_of(st.just("rop"), junk)),
        "projections": st.one_of(st.sampled_from(["identity", "random", "random", "explicit"]), junk,
                                 st.fixed_dictionaries({"query": st.lists(vectors(2), min_size=dim, max_size=dim),
                                                        "key": st.lists(vectors(2), min_size=dim, max_size=dim),
                                                        "value": st.lists(vectors(dim), min_size=dim, max_size=dim)})),
        "seed": mostly(st.integers(0, 2**32), st.one_of(st.integers(-2, 2**64), junk)),
        "d_k": mostly(st.sampled_from([2, 4]), st.one_of(st.integers(0, 8), junk)),
        "residual": mostly(st.booleans()),
        "layer_norm": mostly(st.booleans()),
        "hedas": junk,  # a typo: always an error
    }.items():
        if key == "hedas" and not junky:
            continue
        if draw(st.integers(0, 3)) == 0:
            attention[key] = draw(values)
    if attention or draw(st.booleans()):
        doc["attention"] = attention
    if draw(st.integers(0, 4)) == 0:
        doc["dtype"] = draw(st.sampled_from(["float32", "float64", "float16", "bfloat16", "fp16"]
                                            + (["int8"] if junky else [])))
    if draw(st.integers(0, 5)) == 0:
        doc["tensors"] = {"query": draw(st.lists(vectors(dim), min_size=1, max_size=3)),
                          "key": draw(st.lists(vectors(dim), min_size=1, max_size=3)),
                          "value": draw(st.lists(vectors(2), min_size=1, max_size=3))}
    return doc


texts = st.one_of(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join), st.text(max_size=30))


def check_outcome(out, *, tensors_ok: bool = True) -> None:
    assert "Traceback" not in out.stderr, out
    event(f"exit {out.code}")
    if out.code == 2 and os.environ.get("ATTNCLI_FUZZ_DEBUG"):
        event(out.stderr.splitlines()[0].split(": ", 3)[-1][:60])
    if out.code == 0:
        doc = json.loads(out.stdout, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
        n = len(doc["tokens"])
        causal = doc["config"]["attention"]["causal"]
        assert len(doc["oov"]) == n and len(doc["context"]) == n
        for head in doc["weights"]:
            assert len(head) == n
            for i, row in enumerate(head):
                assert len(row) == n and math.isclose(sum(row), 1.0, abs_tol=2e-2)
                assert all(0.0 <= w <= 1.0 + 1e-6 for w in row)
                if causal:
                    assert all(w == 0.0 for w in row[i + 1:])
        for row in doc["context"]:
            assert all(math.isfinite(v) for v in row)
    elif out.code == 2:
        assert out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert lines[0].startswith("attncli: error:") or lines[0].startswith("Usage:"), out
    else:
        assert out.code == 1 and out.stdout == "", out
        assert "overflow" in out.stderr or "non-finite" in out.stderr or "do not fit" in out.stderr, out


@FUZZ
@given(doc=st.one_of(configs(junky=True), configs(junky=False)), text=texts)
def test_generated_configs_and_texts(doc, text):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, allow_unicode=True)
        args = ["run", "-c", path, "--json"] + (["--", text] if "tensors" not in doc else [])
        check_outcome(cli(*args))


@FUZZ
@given(raw=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_arbitrary_yaml_text_never_crashes_the_loader(raw):
    try:
        doc = parse_yaml(raw, "fuzz.yaml")
        Validator(doc).settings()
    except AttnError as error:
        assert error.line() and int(error.code) == 2


@FUZZ
@given(text=st.text(max_size=60))
def test_arbitrary_texts(text):
    check_outcome(cli("run", "--json", "--", text))


# --------------------------------------------------------------------------- hostile bytes and event streams
# Random bytes and random YAML event streams (tags on any node, anchors and aliases, nesting past
# the depth limit) through the CLI in-process: the exit code is in the table, there is never a
# traceback, and stdout is empty or one valid JSON document.

HOSTILE = settings(max_examples=max(1, EXAMPLES // 4), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TAGS = [None] * 6 + ["tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                     "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:binary",
                     "tag:yaml.org,2002:python/object:os.system", "tag:yaml.org,2002:python/object/apply:os.getcwd",
                     "!local", "tag:yaml.org,2002:set", "tag:yaml.org,2002:merge"]
SCALARS = ["attention", "embeddings", "tensors", "heads", "scale", "temperature", "projections", "random",
           "identity", "d_k", "d_v", "query", "key", "value", "tokens", "causal", "dtype", "fp16", "device",
           "1", "2", "0", "-1", "1.0e+308", "1.0e-320", "1e3", ".nan", ".inf", "true", "~", "<<", "cat", "=",
           "100000000"]
tag = st.sampled_from(TAGS)
anchor = st.sampled_from([None, None, None, "a", "b"])


@st.composite
def scalar_events(draw):
    t = draw(tag)
    value = draw(st.one_of(st.sampled_from(SCALARS), st.text(max_size=6)))
    style = draw(st.sampled_from([None, None, "'", '"']))
    return [yaml.ScalarEvent(draw(anchor), t, (t is None, t is None), value, style=style)]


def collection_events(children):
    def build(draw):
        t, a, flow = draw(tag), draw(anchor), draw(st.booleans())
        items = draw(st.lists(children, max_size=4))
        if draw(st.booleans()):  # a mapping: keys and values alternate
            if len(items) % 2:
                items = items[:-1]
            return ([yaml.MappingStartEvent(a, t, t is None, flow_style=flow)]
                    + [e for item in items for e in item] + [yaml.MappingEndEvent()])
        return ([yaml.SequenceStartEvent(a, t, t is None, flow_style=flow)]
                + [e for item in items for e in item] + [yaml.SequenceEndEvent()])

    return st.composite(build)()


nodes = st.recursive(st.one_of(scalar_events(), st.sampled_from(["a", "b"]).map(lambda a: [yaml.AliasEvent(a)])),
                     collection_events, max_leaves=25)


@st.composite
def event_streams(draw):
    body = draw(nodes)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 3, 63, 64, 70]))):  # sometimes past the depth limit
        body = [yaml.SequenceStartEvent(None, None, True, flow_style=True)] + body + [yaml.SequenceEndEvent()]
    if draw(st.booleans()):  # most configs are a mapping with a known key on top
        key = draw(st.sampled_from(["attention", "embeddings", "tensors", "description"]))
        body = ([yaml.MappingStartEvent(None, None, True, flow_style=False),
                 yaml.ScalarEvent(None, None, (True, True), key)] + body + [yaml.MappingEndEvent()])
    events = [yaml.StreamStartEvent(), yaml.DocumentStartEvent()] + body + [yaml.DocumentEndEvent(),
                                                                            yaml.StreamEndEvent()]
    try:
        return yaml.emit(events)
    except yaml.YAMLError:  # a stream the emitter itself refuses (say, an anchor on an alias)
        hypothesis.reject()


def check_any_outcome(out) -> None:
    event(f"exit {out.code}")
    assert out.code in (0, 1, 2), out
    assert "Traceback" not in out.stderr, out
    if out.stdout:
        json.loads(out.stdout, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    if out.code != 0:
        assert out.stdout == "", out
        assert out.stderr.startswith("attncli: error: "), out
        assert "internal error" not in out.stderr, out


def through_the_cli(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hostile.yaml")
        with open(path, "wb") as f:
            f.write(data)
        check_any_outcome(cli("config", "validate", path, "--json"))
        check_any_outcome(cli("run", "-c", path, "--json", "--", "the cat sat"))


@HOSTILE
@given(data=st.one_of(st.binary(max_size=300),
                      st.lists(st.sampled_from([b"attention:", b" ", b"\n", b"  heads: ", b"[", b"]", b"{", b"}",
                                                b"&a ", b"*a", b"!!python/object:os.system ", b"- ", b"1", b":",
                                                b"\xff", b"\x00", b"#", b"<<: "]), max_size=60).map(b"".join)))
def test_random_bytes_as_a_config(data):
    through_the_cli(data)


@HOSTILE
@given(text=event_streams())
def test_random_yaml_event_streams_as_a_config(text):
    through_the_cli(text.encode("utf-8"))
