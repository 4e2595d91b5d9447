"""attncli vocab and attncli config: listings, lookups, starter configs, validation, completion."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from attncli.cli import app
from attncli.config import load_settings
from attncli.core.vocabulary import TOY_VOCABULARY
from conftest import cli, run_json


def test_vocab_lists_the_toy_vocabulary():
    doc = run_json("vocab")
    assert doc["size"] == len(TOY_VOCABULARY) and doc["d_model"] == 4
    words = {w["token"]: w for w in doc["words"]}
    assert words["bank"]["vector"] == [0.8, 0.8, 0.2, 0.0] and words["bank"]["seed"] == "004"
    assert words["she"]["seed"] == "000" and words["cat"]["seed"] is None
    out = cli("vocab")
    assert out.code == 0 and "bank (004)" in out.stdout


def test_vocab_words_and_neighbours():
    doc = run_json("vocab", "river", "Flibber", "-k", "3")
    river, unknown = doc["words"]
    assert river["oov"] is False and unknown["oov"] is True
    assert [n["token"] for n in river["neighbors"]][0] == "stream"
    assert len(river["neighbors"]) == 3
    cosines = [n["cosine"] for n in river["neighbors"]]
    assert cosines == sorted(cosines, reverse=True)
    out = cli("vocab", "river")
    assert "nearest to river" in out.stdout and "stream" in out.stdout


def test_vocab_of_a_config():
    doc = run_json("vocab", "-c", "bank")
    assert doc["size"] == 5 and doc["source"] == "bank"


def test_config_init_writes_a_valid_starter(tmp_path):
    target = tmp_path / "mine.yaml"
    out = cli("config", "init", str(target))
    assert out.code == 0 and target.exists()
    assert "# " in target.read_text()  # commented
    assert cli("config", "validate", str(target)).code == 0
    again = cli("config", "init", str(target))
    assert again.code == 2 and "already exists" in again.stderr
    assert cli("config", "init", str(target), "--force").code == 0
    assert "attention:" in cli("config", "init", "-").stdout


def test_config_show_resolves_every_default_and_round_trips(tmp_path):
    out = cli("config", "show", "bank-random")
    assert out.code == 0
    doc = yaml.safe_load(out.stdout)
    assert doc["attention"]["d_k"] == 3 and doc["attention"]["temperature"] == 1.0 and doc["dtype"] == "float32"
    path = tmp_path / "shown.yaml"
    path.write_text(out.stdout)
    def comparable(settings):
        d = settings.to_dict()
        d["embeddings"]["file"] = None
        return d | {"source": None, "source_kind": None}

    assert comparable(load_settings(str(path))) == comparable(load_settings("bank-random"))
    defaults = run_json("config", "show")
    assert defaults["attention"]["heads"] == 1 and defaults["embeddings"] is None


def test_config_validate_reports_every_problem(tmp_config):
    path = tmp_config("attention:\n  heds: 2\n  scale: 0\n  causal: maybe\n")
    out = cli("config", "validate", path, "--json")
    assert out.code == 2 and out.stdout == ""
    assert len([l for l in out.stderr.splitlines() if not l.startswith("{") and "config.yaml:" in l]) == 3
    error = json.loads(out.stderr.splitlines()[-1])["error"]
    assert len(error["problems"]) == 2
    good = run_json("config", "validate", "bank")
    assert good["valid"] is True


def test_config_list_has_descriptions():
    rows = run_json("config", "list")
    names = {r["name"]: r["description"] for r in rows}
    assert {"bank", "minimal", "sample-model", "example"} <= set(names)
    assert all(names.values())
    assert "bank" in cli("config", "list").stdout


def test_shell_completion_offers_config_names():
    result = CliRunner().invoke(app, [], prog_name="attncli", env={
        "_ATTNCLI_COMPLETE": "complete_bash", "COMP_WORDS": "attncli run -c ba", "COMP_CWORD": "3"})
    assert result.stdout.split() == ["bank", "bank-linear", "bank-projections", "bank-random"]


def test_tools_do_not_import_torch():
    script = ("import sys\nfrom attncli.cli import main\nsys.argv = {argv!r}\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules\nprint('ok')")
    for argv in (["attncli", "vocab"], ["attncli", "vocab", "bank"], ["attncli", "config", "list"],
                 ["attncli", "config", "show", "bank"], ["attncli", "config", "validate", "bank"]):
        result = subprocess.run([sys.executable, "-c", script.format(argv=argv)], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (argv, result.stderr[-500:])
