"""The error catalogue: every user mistake ends in one clear line and a documented exit code.

Each case checks: the exit code, an empty stdout (with --json), the message on
stderr naming the place, a JSON error object on stderr, and no traceback.
The README's "Errors" table is this list.
"""

from __future__ import annotations

import json

import pytest

from conftest import cli

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
)

# name, config text (or None, or {path: text} for the files of a folder), args, exit code, text expected in the
# first stderr line
CATALOGUE = [
    ("empty text", None, ["run", ""], 2, "TEXT: empty text"),
    ("whitespace-only text", None, ["run", "   \t "], 2, "TEXT: text holds only whitespace"),
    ("punctuation-only text", None, ["run", "?!..."], 2, "TEXT: text has no word tokens"),
    ("only unknown tokens under --strict", None, ["run", "zzqx wvvy", "--strict"], 2,
     "TEXT: no token is in the vocabulary: zzqx, wvvy"),
    ("some unknown tokens under --strict", None, ["run", "the zzqx", "--strict"], 2, "unknown tokens: zzqx"),
    ("missing config file", None, ["run", "a", "-c", "missing/config.yaml"], 2,
     "--config: no config file or bundled config named 'missing/config.yaml'"),
    ("misspelt bundled config", None, ["run", "a", "-c", "bnak"], 2, "did you mean 'bank'?"),
    ("directory as config", None, ["run", "a", "-c", "."], 2, "is a directory, not a config file"),
    ("invalid YAML syntax", "attention:\n  heads: [1, 2\n", ["run", "a"], 2, "config.yaml:3:1: invalid YAML"),
    ("YAML that is a list", "- 1\n- 2\n", ["run", "a"], 2, "a config must be a mapping"),
    ("YAML that is a scalar", "42\n", ["run", "a"], 2, "a config must be a mapping"),
    ("unknown top-level key", "atention:\n  heads: 2\n", ["run", "a"], 2,
     "config.yaml:1:1: atention: unknown key 'atention' (did you mean 'attention'?)"),
    ("unknown nested key", "attention:\n  heds: 2\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.heds: unknown key 'heds' (did you mean 'heads'?)"),
    ("wrong type", "attention:\n  heads: two\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.heads: expected a whole number, got a string ('two')"),
    ("boolean expected", "attention:\n  causal: maybe\n", ["run", "a"], 2, "attention.causal: expected true or false"),
    ("number written as 1e3", "attention:\n  temperature: 1e3\n", ["run", "a"], 2, "YAML reads this as text"),
    ("ragged vectors", "embeddings:\n  a: [1, 2]\n  b: [1, 2, 3]\n", ["run", "a b"], 2,
     "config.yaml:3:3: embeddings.b: expected 2 numbers, got 3"),
    ("empty vector", "embeddings:\n  a: []\n", ["run", "a"], 2, "embeddings.a: empty vector"),
    ("empty embeddings", "embeddings: {}\n", ["run", "a"], 2, "embeddings: no embeddings given"),
    ("NaN in a vector", "embeddings:\n  a: [1, .nan]\n", ["run", "a"], 2,
     "config.yaml:2:10: embeddings.a[1]: expected a finite number, got nan"),
    ("infinity in a vector", "embeddings:\n  a: [.inf, 1]\n", ["run", "a"], 2, "expected a finite number, got inf"),
    ("text in a vector", "embeddings:\n  a: [1, x]\n", ["run", "a"], 2, "embeddings.a[1]: expected a number"),
    ("projection of the wrong shape",
     "attention:\n  projections:\n    query: [[1, 0], [0, 1], [0, 0]]\n    key: [[1, 0], [0, 1], [0, 0], [0, 0]]\n"
     "    value: [[1, 0], [0, 1], [0, 0], [0, 0]]\n", ["run", "a"], 2,
     "config.yaml:3:5: attention.projections.query: expected 4 rows (d_model), got 3"),
    ("key width differs from query width",
     "attention:\n  projections:\n    query: [[1], [0], [0], [0]]\n    key: [[1, 0], [0, 1], [0, 0], [0, 0]]\n"
     "    value: [[1, 0], [0, 1], [0, 0], [0, 0]]\n", ["run", "a"], 2,
     "attention.projections.key[0]: expected 1 numbers, got 2"),
    ("missing explicit projection", "attention:\n  projections:\n    query: [[1]]\n", ["run", "a"], 2,
     "explicit projections need key, value"),
    ("heads that do not divide the width", None, ["run", "a b", "--heads", "3"], 2,
     "--heads: 3 heads do not divide the query/key width 4"),
    ("heads in the config", "attention:\n  heads: 3\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.heads: 3 heads do not divide the query/key width 4"),
    ("zero heads", None, ["run", "a", "--heads", "0"], 2, "--heads: must be at least 1, got 0"),
    ("residual with mismatched widths", "attention:\n  projections: random\n  d_k: 2\n  residual: true\n",
     ["run", "a"], 2, "residual needs the output width (2) to equal the embedding width (4)"),
    ("non-positive temperature", None, ["run", "a", "--temperature", "0"], 2, "--temperature: must be greater than 0"),
    ("negative temperature in config", "attention:\n  temperature: -1\n", ["run", "a"], 2,
     "attention.temperature: must be greater than 0, got -1"),
    ("non-positive scale", "attention:\n  scale: 0\n", ["run", "a"], 2, "attention.scale: must be greater than 0"),
    ("unknown positional kind", None, ["run", "a", "--positional", "sinus"], 2,
     "--positional: unknown value 'sinus'; expected one of none, sinusoidal, rope (did you mean 'sinusoidal'?)"),
    ("unknown projection kind", "attention:\n  projections: randon\n", ["run", "a"], 2, "did you mean 'random'?"),
    ("rope with an odd head width", "attention:\n  positional: rope\n  projections: random\n  d_k: 3\n",
     ["run", "a"], 2, "rope needs an even per-head query/key width"),
    ("d_k without random projections", "attention:\n  d_k: 3\n", ["run", "a"], 2,
     "d_k applies only to projections: random"),
    ("negative seed", None, ["run", "a", "--seed", "-1"], 2, "--seed: must be at least 0, got -1"),
    ("unknown device", None, ["run", "a", "--device", "tpu"], 2, "--device: unknown device 'tpu'"),
    ("unknown device in config", "device: gpu0\n", ["run", "a"], 2, "config.yaml:1:1: device: unknown device 'gpu0'"),
    ("unknown dtype", None, ["run", "a", "--dtype", "float8"], 2, "--dtype: unknown value 'float8'"),
    ("head out of range", None, ["run", "a b", "--head", "1"], 2, "--head: head 1 is out of range"),
    ("unknown --include", None, ["run", "a", "--include", "qvk"], 2, "--include: unknown value 'qvk'"),
    ("unknown --view", None, ["run", "a", "--view", "tiny"], 2, "--view: unknown view 'tiny'"),
    ("bad --precision", None, ["run", "a", "--precision", "40"], 2, "--precision: must be between 0 and 17"),
    ("bad --save extension", None, ["run", "a", "--save", "out.png"], 2, "--save: cannot tell the format"),
    ("non-positive --max-weights-mb", None, ["run", "a", "--max-weights-mb", "0"], 2, "--max-weights-mb: must be greater"),
    ("text and tensors together", "tensors:\n  query: [[1]]\n  key: [[1]]\n  value: [[1]]\n", ["run", "a"], 2,
     "this config gives tensors directly"),
    ("no text and no tensors", None, ["run"], 2, "TEXT: no TEXT given"),
    ("tensors with projections",
     "tensors:\n  query: [[1]]\n  key: [[1]]\n  value: [[1]]\nattention:\n  projections: random\n", ["run"], 2,
     "attention.projections: projections does not apply to a tensors config"),
    ("tensors with ragged rows", "tensors:\n  query: [[1, 2], [1]]\n  key: [[1, 2], [1, 2]]\n  value: [[1], [1]]\n",
     ["run"], 2, "tensors.query[1]: expected 2 numbers, got 1"),
    ("tensors with too few labels", "tensors:\n  tokens: [a]\n  query: [[1], [2]]\n  key: [[1], [2]]\n"
     "  value: [[1], [1]]\n", ["run"], 2, "tensors.tokens: expected 2 labels"),
    ("embeddings and tensors", "embeddings:\n  a: [1]\ntensors:\n  query: [[1]]\n  key: [[1]]\n  value: [[1]]\n",
     ["run"], 2, "give either embeddings or tensors, not both"),
    ("duplicate key", "attention:\n  heads: 1\n  heads: 2\n", ["run", "a"], 2, "duplicate key 'heads'"),
    ("token given twice in another case", "embeddings:\n  Bank: [1]\n  bank: [2]\n", ["run", "bank"], 2,
     "is given twice"),
    ("YAML alias bomb", BOMB, ["run", "a"], 2, "config is too large"),
    ("a Python object tag (never executed)", 'attention:\n  heads: !!python/object:os.system "echo hi"\n',
     ["run", "a"], 2, "config.yaml:2:3: attention.heads: unsupported YAML tag '!!python/object:os.system'"),
    ("a Python object tag on a mapping", "attention: !!python/object:os.system\n  heads: 1\n", ["run", "a"], 2,
     "config.yaml:1:1: attention: unsupported YAML tag '!!python/object:os.system'"),
    ("YAML nested too deep", "attention: " + "[" * 100 + "]" * 100 + "\n", ["run", "a"], 2,
     "config.yaml:1:75: lists and mappings nested deeper than 64 levels"),
    ("a config that never ends", None, ["run", "a", "-c", "/dev/zero"], 2,
     "/dev/zero: config file is too large: more than the 2 MiB limit"),
    ("an overflowing divisor", None, ["run", "a", "--temperature", "1e308"], 2,
     "--temperature: the scores' divisor, scale x temperature = 2 x 1e+308 = inf, is out of range"),
    ("a divisor out of range in the config", "attention:\n  scale: 1.0e+308\n  temperature: 10.0\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.scale: the scores' divisor"),
    ("projections over the tensor budget", None, ["run", "a", "--projections", "random", "--d-k", "100000000"], 2,
     "--d-k: the tensors these settings imply (query projection 4 x 100,000,000"),
    ("non-finite --max-weights-mb", None, ["run", "a", "--max-weights-mb", "nan"], 2,
     "--max-weights-mb: must be a finite number, got nan"),
    ("an integer beyond the float range", "attention:\n  temperature: 1" + "0" * 400 + "\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.temperature: expected a finite number, got an integer too large for a float"),
    ("a tagged value its type cannot hold", "attention:\n  heads: !!int two\n", ["run", "a"], 2,
     "config.yaml:2:3: attention.heads: unsupported YAML value: cannot read 'two' as !!int"),
    ("enormous text", None, ["run", " ".join(["cat"] * 30000)], 2,
     "--max-weights-mb: 30,000 x 30,000 tokens x 1 head(s) need"),
    ("focus token not present", None, ["compare", "the cat", "the dog", "--focus", "bird"], 2,
     "--focus: focus token 'bird' is not in context 1"),
    ("focus occurrence missing", None, ["compare", "the cat the", "the dog", "--focus", "the@2"], 2,
     "context 2 ('the dog') has 1 occurrence(s) of 'the', not 2"),
    ("bad focus occurrence", None, ["compare", "a b", "a c", "--focus", "a@0"], 2, "expected TOKEN@K"),
    ("one context only", None, ["compare", "the cat"], 2, "compare needs at least two texts, got 1"),
    ("no shared token", None, ["compare", "the cat", "a dog"], 2, "no token occurs in every context"),
    ("empty context", None, ["compare", "the cat", " "], 2, "context 2: text holds only whitespace"),
    # usage errors from the option parser: the same one line (issue 13, #16)
    ("a word where a number goes", None, ["run", "a", "--heads", "abc"], 2,
     "--heads: expected a whole number in ASCII digits 0-9, got 'abc'"),
    ("digits of another script", None, ["run", "a", "--head", "\u0661"], 2,
     "--head: expected a whole number in ASCII digits 0-9, got '\u0661' (digits of other scripts are not accepted)"),
    ("a number past 64 bits", None, ["heads", "--seed", "9" * 30], 2,
     "--seed: is too large (999999999999999999999999999999) (the limit is 9,223,372,036,854,775,807)"),
    ("a number of thousands of digits", None, ["run", "a", "--focus", "9" * 5000], 2,
     "--focus: is too large (a number of 5,000 digits) (the limit is 9,223,372,036,854,775,807)"),
    ("a layer in another script's digits", None, ["run", "a", "--layer", "\u0663"], 2,
     "--layer: expected a layer number (ASCII digits 0-9, -1 the last) or 'all', got '\u0663'"),
    ("unknown option", None, ["run", "a", "--colour"], 2, "--colour: no such option"),
    ("missing argument", None, ["compare"], 2, "TEXTS: missing argument (see 'attncli compare --help')"),
    ("--save to a directory", None, ["run", "a", "--save", "."], 2, "--save: file '.' is a directory"),
    ("--save into a folder that does not exist", None, ["run", "a", "--save", "nodir/out.svg"], 2,
     "--save: folder 'nodir' does not exist"),
    # non-finite numbers, refused for every float option (#14)
    ("infinity for a number option", None, ["bench", "--memory-mb", "inf"], 2,
     "--memory-mb: must be a finite number, got inf (NaN and infinite values are not allowed)"),
    ("NaN for the temperature", None, ["explain", "a", "-t", "nan"], 2, "--temperature: must be a finite number, got nan"),
    # --file (#3)
    ("--file that does not exist", None, ["run", "--file", "missing.txt"], 2, "--file missing.txt: no such file"),
    ("--file with a line that never ends", None, ["run", "--file", "/dev/zero"], 2,
     "/dev/zero:1: line 1 does not end within 64 MiB (is this a text file?)"),
    ("model in a home folder that does not exist", None, ["run", "the cat", "--model", "~nosuchuser/x"], 2,
     "--model ~nosuchuser/x: cannot load the model: no such user's home folder"),
    # model folders (issue 17): sizes and files checked before anything is read or allocated
    ("model config with a million layers", {"m/config.json": '{"model_type": "llama", "num_hidden_layers": 1000000}'},
     ["run", "the cat", "--model", "m"], 2,
     "--model m: cannot load the model: config.json: num_hidden_layers is 1,000,000; the limit is 1,024"),
    ("model config with a vocabulary of 1e8", {"m/config.json": '{"model_type": "bert", "vocab_size": 1e8}'},
     ["run", "the cat", "--model", "m"], 2, "config.json: vocab_size is 100,000,000; the limit is 4,194,304"),
    ("model config size that is not a number", {"m/config.json": '{"model_type": "gpt2", "n_layer": "12"}'},
     ["run", "the cat", "--model", "m"], 2, "config.json: n_layer must be a whole number, got \"12\""),
    ("model config larger than memory", {"m/config.json": '{"model_type": "llama", "hidden_size": 65536, '
                                         '"intermediate_size": 262144, "num_hidden_layers": 512, "vocab_size": 32000}'},
     ["run", "the cat", "--model", "m"], 1,
     "--model m: config.json describes about 35,186,603,458,560 parameters (131,080.3 GiB in float32); the limit is"),
    ("model chat template over 1 MiB", {"m/config.json": '{"model_type": "gpt2"}',
                                        "m/chat_template.jinja": "x" * ((1 << 20) + 1)},
     ["run", "the cat", "--model", "m"], 2,
     "--model m: cannot load the model: chat_template.jinja has 1,048,577 bytes; the limit for it is 1 MiB"),
    ("unknown head score", None, ["heads", "--score", "nope"], 2, "--score: unknown score 'nope'"),
    ("probe too short", None, ["heads", "--length", "1"], 2, "--length: must be between 2 and 4096"),
    ("probe longer than the vocabulary", None, ["heads", "--length", "4000"], 2,
     "--length: the vocabulary has only"),
    ("induction score on a text", None, ["heads", "--text", "the cat sat", "--score", "induction"], 2,
     "'induction' needs the repeated-token probe"),
    ("heads --ablate without a model", None, ["heads", "--ablate", "0.1"], 2, "--ablate: --ablate goes with --model"),
    ("generate --ablate-mode mean", None, ["generate", "the cat", "--model", "smollm2", "--ablate", "0.1",
                                          "--ablate-mode", "mean"], 2,
     "--ablate-mode: mean needs every position at once; generation runs one new position per forward"),
    # work estimated before it is done (docs/limits.md)
    ("toy attention past the score budget", None, ["run", "the cat sat on the mat", "--max-scores", "10"], 2,
     "--max-scores: 6 x 6 tokens x 1 head(s) is 36 attention scores to compute; the limit is 10"),
    ("compare past the figures budget", None, ["compare", "the cat", "a cat", "--max-cells", "10"], 2,
     "--max-cells: 2 contexts x 1 followed token(s) need 16 pairwise figures (4 matrices of 2 x 2); the limit is 10"),
    ("bench past the work limit", None, ["bench", "--lengths", "100000"], 2,
     "--max-tflop: this bench is 81.9 TFLOP of attention"),
    ("bench past the calls limit", None, ["bench", "--lengths", "8", "--repeat", "100000000"], 2,
     "--max-calls: this bench makes 200,000,002 calls"),
    # targets that are not regular files (issue 17 #5): never replaced, even with --force
    ("config init onto a device node", None, ["config", "init", "/dev/null", "--force"], 2,
     "/dev/null: is a character device, not a regular file"),
    ("--join of an endless input", None, ["run", "--file", "/dev/zero", "--join"], 2,
     "/dev/zero:1: line 1 does not end within 64 MiB (is this a text file?)"),
    # browse --generate (issue 20) and browse --measure (issue 19)
    ("browse --generate without a model", None, ["browse", "--generate", "The capital of France is"], 2,
     "--generate: --generate needs --model, a decoder or an encoder-decoder model to write with"),
    ("a generation option without --generate", None, ["browse", "-n", "8", "the cat"], 2,
     "-n/--max-new-tokens: -n/--max-new-tokens goes with --generate"),
    ("browse --generate with a TEXT", None, ["browse", "--generate", "Once", "the cat"], 2,
     "TEXT: TEXT does not go with --generate"),
]


def write_files(folder, files: dict) -> None:
    """The files of a catalogue case (a model folder's config.json, ...), relative to ``folder``."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("name, config, args, code, expected", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_error_catalogue(tmp_path, monkeypatch, name, config, args, code, expected):
    monkeypatch.chdir(tmp_path)
    if isinstance(config, dict):
        write_files(tmp_path, config)
    elif config is not None:
        (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
        args = [args[0], "-c", "config.yaml", *args[1:]]
    out = cli(*args, "--json")
    assert out.code == code, out
    assert out.stdout == "", out
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert expected in lines[0], out
    payload = json.loads(lines[-1])["error"]
    assert payload["exit_code"] == code and payload["message"]


def test_binary_garbage_as_config(tmp_path):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    out = cli("run", "a", "-c", str(path), "--json")
    assert out.code == 2 and out.stdout == ""
    assert "not a text file" in out.stderr


def test_invalid_utf8_as_config(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("description: caf\xe9\n".encode("latin-1"))
    out = cli("run", "a", "-c", str(path))
    assert out.code == 2 and "not a UTF-8 text file" in out.stderr


def test_control_characters_in_config(tmp_path):
    path = tmp_path / "ctrl.yaml"
    path.write_text("description: a\x07b\n")
    out = cli("run", "a", "-c", str(path))
    assert out.code == 2 and "not a readable YAML text file" in out.stderr


def test_oversized_config_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    row = "[" + ", ".join(["0.5"] * 10000) + "]"
    with open(path, "w") as f:
        f.write("tensors:\n  query: [")
        for _ in range(60):
            f.write(row + ",")
        f.write(row + "]\n")
    out = cli("run", "-c", str(path))
    assert out.code == 2 and "config file is too large" in out.stderr


def test_unreadable_config(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "secret.yaml"
    path.write_text("attention: {}\n")
    real = Path.open

    def refuse(self, *args, **kwargs):
        if self.name == "secret.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)  # as for chmod 0, which root ignores
    out = cli("run", "a", "-c", str(path))
    assert out.code == 2 and "secret.yaml: cannot read config: Permission denied" in out.stderr


def test_every_config_problem_is_listed(tmp_config):
    path = tmp_config("attention:\n  heds: 2\n  scale: 0\n  causal: 3\n")
    out = cli("run", "a", "-c", path)
    assert out.code == 2
    lines = out.stderr.splitlines()
    assert len(lines) == 3 and "heds" in lines[0] and "scale" in lines[1] and "causal" in lines[2]


def test_recursive_alias(tmp_config):
    path = tmp_config("a: &x\n  b: *x\n")
    out = cli("run", "a", "-c", path)
    assert out.code == 2 and "Traceback" not in out.stderr


def test_float16_overflow_is_reported_not_printed(tmp_config):
    path = tmp_config("embeddings:\n  big: [300.0, 300.0]\n")
    out = cli("run", "big big", "-c", path, "--dtype", "float16", "--no-scale", "--json")
    assert out.code == 1 and out.stdout == ""
    assert "float16 overflow in the raw scores" in out.stderr
    assert "--dtype float32" in out.stderr


def test_float16_value_out_of_range(tmp_config):
    path = tmp_config("embeddings:\n  big: [1.0e+6, 1.0]\n")
    out = cli("run", "big", "-c", path, "--dtype", "float16", "--json")
    assert out.code == 1 and out.stdout == ""
    assert "embeddings: values do not fit in float16" in out.stderr


def test_bfloat16_keeps_range_and_gives_finite_results(tmp_config):
    path = tmp_config("embeddings:\n  big: [300.0, 300.0]\n")
    out = cli("run", "big big", "-c", path, "--dtype", "bfloat16", "--no-scale", "--json")
    assert out.code == 0, out
    assert out.json["weights"] == [[[0.5, 0.5], [0.5, 0.5]]]


def test_huge_scores_are_fine_in_float32(tmp_config):
    path = tmp_config("embeddings:\n  a: [100.0, 0.0]\n  b: [0.0, 100.0]\n")
    out = cli("run", "a b a", "-c", path, "--no-scale", "--json")
    assert out.code == 0
    for row in out.json["weights"][0]:
        assert abs(sum(row) - 1) < 1e-6


def test_internal_errors_are_one_line_without_debug(monkeypatch):
    import attncli.core.toy as toy

    def boom(*args, **kwargs):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(toy, "build", boom)
    out = cli("run", "a", "--json")
    assert out.code == 1 and out.stdout == ""
    assert "internal error: ValueError: synthetic failure" in out.stderr and "Traceback" not in out.stderr
    debug = cli("run", "a", "--debug")
    assert debug.code == 1 and "Traceback" in debug.stderr


def test_debug_shows_traceback_for_user_errors_too():
    out = cli("run", "", "--debug")
    assert out.code == 2 and "Traceback" in out.stderr and "empty text" in out.stderr


def test_parser_errors_keep_exit_code_2():
    out = cli("run", "a", "--heads", "two")
    assert out.code == 2 and out.stdout == ""


def test_gpu_device_where_none_is_usable():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    out = cli("run", "the cat", "--device", "cuda", "--json")
    assert out.code == 2 and out.stdout == ""
    assert "--device: no usable CUDA GPU for device 'cuda'" in out.stderr
    assert json.loads(out.stderr.splitlines()[-1])["error"]["kind"] == "device"
    assert "no usable CUDA GPU" in cli("run", "the cat", "--device", "cuda:1").stderr


def test_mps_where_none_is_usable():
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("this machine has Apple MPS")
    out = cli("run", "the cat", "--device", "mps")
    assert out.code == 2 and "Apple MPS is not available here" in out.stderr


def test_auto_device_falls_back_to_the_cpu():
    import torch

    doc = json.loads(cli("run", "the cat", "--device", "auto", "--json").stdout)
    assert doc["config"]["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")


def test_out_of_memory_is_a_runtime_failure(monkeypatch):
    import attncli.core.toy as toy

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(toy.ToyAttention, "run", oom)
    out = cli("run", "the cat", "--json")
    assert out.code == 1 and out.stdout == "" and "out of memory" in out.stderr
    assert json.loads(out.stderr.splitlines()[-1])["error"]["kind"] == "memory"
