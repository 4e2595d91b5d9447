"""Hostile input round 3, text and numbers: escaping, non-finite vectors, number formatting."""

from __future__ import annotations

import json
import re

import pytest

from conftest import cli

from attncli.io.textsafe import visible

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


# --------------------------------------------------------------------------- 11: escaping


@pytest.mark.parametrize("raw, shown", [
    ("ca\x1b[2Jt", "ca\\x1b[2Jt"),
    ("\u202ex", "\\u202ex"),
    ("a\u2028b", "a\\u2028b"),
    ("a\u2029b", "a\\u2029b"),
    ("x\u200by", "x\\u200by"),
    ("\U0001f468\u200d\U0001f469", "\U0001f468\\u200d\U0001f469"),
    ("a\u200cb", "a\\u200cb"),
    ("\ufeffbom", "\\ufeffbom"),
    ("\udcff.yaml", "\\udcff.yaml"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("\x85next", "\\x85next"),
])
def test_visible_escapes_controls_format_and_separators(raw, shown):
    assert visible(raw) == shown


@pytest.mark.parametrize("kept", ["नमस्ते", "café", "cafe\u0301", "日本語", "\U0001f600", "plain"])
def test_visible_keeps_letters_marks_and_symbols(kept):
    assert visible(kept) == kept


HOSTILE_WORDS = ["ca\x1b[2Jt", "\u202ex", "a\u2028b", "x\u200by", "\U0001f468\u200d\U0001f469"]


def test_vocab_escapes_headings_and_tables():
    out = cli("vocab", *HOSTILE_WORDS)
    assert out.code == 0, out
    assert not RAW.search(out.stdout), out
    for escaped in ("nearest to ca\\x1b[2Jt", "nearest to \\u202ex", "nearest to a\\u2028b",
                    "nearest to x\\u200by", "nearest to \U0001f468\\u200d\U0001f469"):
        assert escaped in out.stdout
    # every row of the vectors table is as wide as the rule under its header
    lines = out.stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("\u2500"))
    rows = lines[rule + 1: rule + 1 + len(HOSTILE_WORDS)]
    from rich.cells import cell_len

    assert len({cell_len(row) for row in rows + [lines[rule]]}) == 1, rows


def test_vocab_json_keeps_the_exact_strings():
    out = cli("vocab", *HOSTILE_WORDS, "--json")
    assert out.code == 0, out
    assert [w["token"] for w in out.json["words"]] == HOSTILE_WORDS


def test_vocab_config_keys_and_source_are_escaped(tmp_path):
    path = tmp_path / "e\u202evil.yaml"
    path.write_text('embeddings:\n  "x\\u200dy": [1.0, 0.0]\n  "b\\e[2Jc": [0.0, 1.0]\n', encoding="utf-8")
    for args in (["vocab", "-c", str(path)], ["vocab", "-c", str(path), "x\u200dy"]):
        out = cli(*args)
        assert out.code == 0, out
        assert not RAW.search(out.stdout), out


# --------------------------------------------------------------------------- 12: non-finite vocab

BIG = "embeddings:\n  big: [1.0e+200, 2.0e+200]\n  small: [1.0, 2.0]\n  neg: [-1.0e+200, 3.0]\n  huge: [1.0e+308, 1.0e+308]\n"


def test_vocab_cosines_of_huge_vectors_are_exact(tmp_config):
    path = tmp_config(BIG)
    doc = cli("vocab", "-c", path, "big", "small", "huge", "--json")
    assert doc.code == 0, doc
    cos = {w["token"]: {n["token"]: n["cosine"] for n in w["neighbors"]} for w in doc.json["words"]}
    assert cos["big"]["small"] == pytest.approx(1.0)
    assert cos["huge"]["small"] == pytest.approx(3 / (2 ** 0.5 * 5 ** 0.5))
    assert cos["small"]["neg"] == pytest.approx(-1 / 5 ** 0.5)
    view = cli("vocab", "-c", path, "big", "small", "huge")
    assert view.code == 0 and "nan" not in view.stdout and "inf" not in view.stdout, view


def test_cosine_refuses_non_finite_components():
    from attncli.core.similarity import cosine

    assert cosine([0.0, 0.0], [1.0, 2.0]) is None
    assert cosine([1e-300, 0.0], [1e-300, 0.0]) == 1.0
    with pytest.raises(ValueError):
        cosine([float("nan"), 1.0], [1.0, 1.0])


def test_vocab_non_finite_vector_is_a_numeric_error(monkeypatch):
    from attncli.core import vocabulary

    table = dict(vocabulary.TOY_VOCABULARY)
    table["bad"] = (float("inf"), 0.0, 0.0, 0.0)
    monkeypatch.setattr(vocabulary, "TOY_VOCABULARY", table)
    for args in (["vocab", "the"], ["vocab", "the", "--json"]):
        out = cli(*args)
        assert out.code == 1, out
        assert "'bad' has a non-finite component" in out.stderr
        assert "internal error" not in out.stderr and out.stdout == ""


# --------------------------------------------------------------------------- 15: numbers that do not fit


def test_fmt_switches_to_scientific_notation():
    from attncli.render.layout import fmt

    assert fmt(1e100, 3) == "1.000e+100"
    assert fmt(-1.5e308, 2) == "-1.50e+308"
    assert fmt(1234567.0, 2) == "1234567.00"
    assert fmt(12345678.0, 2) == "1.23e+07"
    assert fmt(-0.0001, 2) == "0.00"
    assert fmt(-0.2, 0) == "0"
    assert fmt(0.5, 3) == "0.500"


def test_float64_huge_embeddings_fit_80_columns(tmp_config):
    path = tmp_config("embeddings:\n  big: [1.0e+100, 2.0e+100, -3.0e+100, 4.0e+100]\n"
                      "  small: [1.0, 2.0, 3.0, 4.0]\n")
    for args in (["run", "-c", path, "big small", "--dtype", "float64", "--include", "qkv"],
                 ["vocab", "-c", path], ["vocab", "-c", path, "big"]):
        out = cli(*args)
        assert out.code == 0, out
        lines = out.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, out
        assert "e+100" in out.stdout
        assert "not shown" not in out.stdout, out
        assert re.search(r"token\s+0\s+1\s+2\s+3", out.stdout) or re.search(r"\s0\s+1\s+2\s+3", out.stdout), out


# --------------------------------------------------------------------------- 18: grapheme-aware tokens


@pytest.mark.parametrize("text, tokens", [
    ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),
    ("cafe\u0301 cre\u0300me", ["café", "crème"]),
    ("the \U0001f468\u200d\U0001f469\u200d\U0001f467 family", ["the", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
                                                                "family"]),
    ("\U0001f44d\U0001f3fd ok \U0001f1eb\U0001f1f7", ["\U0001f44d\U0001f3fd", "ok", "\U0001f1eb\U0001f1f7"]),
    ("1\ufe0f\u20e3 x", ["1\ufe0f\u20e3", "x"]),
    ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]),
    ("x\u200d y", ["x", "y"]),
    ("25\u00b0C", ["25", "C"]),
    ("l\u2019homme well-known", ["l\u2019homme", "well-known"]),
    ("日本語 テキスト", ["日本語", "テキスト"]),
])
def test_tokenizer_keeps_marks_joiners_and_emoji(text, tokens):
    from attncli.core.tokens import tokenize

    assert tokenize(text) == tokens


def test_tokenizer_ascii_is_the_old_regex():
    import random

    from attncli.core.tokens import TOKEN_PATTERN, tokenize

    rng = random.Random(0)
    alphabet = "ab Z9_'-\u2019.,!?\t\n"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        assert tokenize(text) == TOKEN_PATTERN.findall(text), text
        padded = text + " \u00e9"  # the Unicode path, on the same text
        assert tokenize(padded)[:len(TOKEN_PATTERN.findall(text))] == TOKEN_PATTERN.findall(text), padded


def test_nfd_and_nfc_text_are_the_same_run(tmp_config):
    path = tmp_config('embeddings:\n  "caf\\u00e9": [1.0, 0.0]\n  "cre\\u0300me": [0.0, 1.0]\n')
    nfc = cli("run", "-c", path, "caf\u00e9 cr\u00e8me", "--strict", "--json")
    nfd = cli("run", "-c", path, "cafe\u0301 cre\u0300me", "--strict", "--json")
    assert nfc.code == 0 and nfd.code == 0, (nfc, nfd)
    assert nfc.json["tokens"] == nfd.json["tokens"] == ["caf\u00e9", "cr\u00e8me"]
    assert nfc.json["weights"] == nfd.json["weights"]
    vocab = cli("vocab", "-c", path, "cafe\u0301", "--json")
    assert vocab.json["words"][0]["oov"] is False


def test_devanagari_run_has_two_tokens():
    doc = cli("run", "नमस्ते दुनिया", "--json")
    assert doc.code == 0, doc
    assert doc.json["tokens"] == ["नमस्ते", "दुनिया"]


def test_hostile_config_name_and_keys_in_every_view(tmp_path):
    path = tmp_path / "h\u202ex\u2028.yaml"
    path.write_text('description: "d\\e[2J"\nembeddings:\n  "x\\u200dy": [1.0, 0.0]\n  "b\\e[2Jc": [0.0, 1.0]\n',
                    encoding="utf-8")
    c = str(path)
    text = "x\u200dy b\x1b[2Jc"
    for args in (["run", "-c", c, text], ["explain", "-c", c, text], ["compare", "-c", c, text, "x\u200dy b"],
                 ["heads", "-c", c, "--text", text], ["vocab", "-c", c], ["vocab", "-c", c, "x\u200dy"],
                 ["config", "show", c], ["config", "validate", c]):
        out = cli(*args)
        assert out.code == 0, (args, out)
        assert not RAW.search(out.stdout), (args, out.stdout)
        assert not RAW.search(out.stderr), (args, out.stderr)


def test_compare_figures_do_not_overflow():
    from attncli.core.comparison import _cosine, _l2

    assert _cosine([1e200, 2e200], [1.0, 2.0]) == pytest.approx(1.0)
    assert _l2([3e200, 0.0], [0.0, 4e200]) == pytest.approx(5e200)
    assert _l2([1.0, 2.0], [1.0, 2.0]) == 0.0
    from attncli.errors import AttnError

    with pytest.raises(AttnError, match="beyond the float range"):
        _l2([1.7e308, 1.7e308], [-1.7e308, -1.7e308])
