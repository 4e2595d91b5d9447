"""The package's shape, checked from its source (AST, no imports): no import cycles, the core free of
Typer/Click/Rich/Textual, no command-line option spelled outside attncli/cli, no file over 450 lines,
and ``import attncli`` light enough for ``attncli --help`` to stay fast."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "attncli"

#: Cycles that another branch is removing; each entry goes when that branch lands. (models/cache <->
#: models/load was one until the model-safety branch moved PACKAGED into models/registry.py.)
KNOWN_CYCLES: set[frozenset[str]] = set()
#: String constants outside attncli/cli that look like an option but are not attncli's.
OPTION_LOOKALIKES = {
    "pip install --no-deps ",  # pip's own flag, in models/registry.py's install hint
}
#: Only the terminal layers may import these.
UI_PACKAGES = ("typer", "click", "rich", "textual")
UI_LAYERS = ("cli", "render", "browse")
MAX_LINES = 450


@functools.lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module this one imports, at module or function level (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                for extra in child.orelse:
                    visit(extra)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
                submodules = [n for n in names if n in modules()]
                # `from pkg import sub` imports pkg.sub; `from mod import name` imports mod.
                found.extend((target, child.lineno) for target in (submodules or [base]))
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports(name, path):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            connect(v)
    return out


def test_no_import_cycles():
    found = [c for c in cycles(graph()) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_scan_sees_function_level_imports():
    edges = graph()
    assert "attncli.documents.build" in edges["attncli.core.record"]  # Record.document(), inside a method
    assert "attncli.core.record" not in edges["attncli.documents.build"]  # only under TYPE_CHECKING


def test_the_core_imports_no_terminal_library():
    bad = []
    for name, path in modules().items():
        if name.split(".")[1:2] and name.split(".")[1] in UI_LAYERS:
            continue
        for target, line in imports(name, path):
            if target.split(".")[0] in UI_PACKAGES:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not bad, bad


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


OPTION = re.compile(r"(?<![\w-])--[a-z]")


def option_names(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """String constants (f-string parts included, docstrings left out) that spell a ``--option``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    return [f"{path.relative_to(root)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
            and OPTION.search(node.value) and node.value not in OPTION_LOOKALIKES]


def test_nothing_outside_the_cli_names_an_option():
    """Outside attncli/cli, code (the views' hint lines included) names the API's parameters
    (attncli.errors.option); the CLI's naming (attncli/cli/params.py) turns them into flags while a
    command runs."""
    bad = []
    for name, path in modules().items():
        if name.split(".")[1:2] and name.split(".")[1] == "cli":
            continue
        bad += option_names(path)
    assert not bad, "\n".join(bad)


def test_the_option_scan_finds_options(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docs may say --focus."""\nA = "use --top-k"\nB = f"x {1} raise --max-weights-mb"\n'
                      'C = "a -- b, ---, x--y"\n')
    found = [line.split(": ", 1)[1] for line in option_names(sample, tmp_path)]
    assert found == ["'use --top-k'", "' raise --max-weights-mb'"]


def test_no_file_is_over_450_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_importing_attncli_loads_no_torch_or_terminal_library():
    code = ("import sys, attncli; heavy = [m for m in ('torch', 'typer', 'click', 'rich', 'textual', 'transformers')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import attncli loaded {out.stdout.strip()}"


def test_every_subpackage_is_in_the_wheel():
    """pyproject's explicit package list names every folder with an __init__.py (an editable install
    hides a missing one; the wheel CI installs does not)."""
    import re

    root = Path(__file__).resolve().parent.parent
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(attncli[\w.]*)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "attncli").rglob("__init__.py")}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
