"""The README is part of the interface: its method table and commands must match the code, it stays a
door (short, with links into the documentation site that resolve), and its example is Python."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gradcam

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
#: A README that fits on a few screens; the details live in docs/ and CHANGELOG.md.
MAX_LINES = 300


def test_method_table_matches_the_registry():
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", README, re.M)
    table = {
        key: (label.strip(), where.strip(), cost.strip(), paper.strip()) for key, label, where, cost, paper in rows
    }
    assert list(table) == list(gradcam.METHODS)
    for key, method in gradcam.METHODS.items():
        where = "layer" if method.uses_layer else "input pixels"
        assert table[key] == (method.label, where, method.passes, method.paper), key


def test_quick_start_is_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["python3 run.py app", "python3 run.py test"]


def test_readme_is_short():
    lines = README.count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines (at most {MAX_LINES}): move details into docs/"


def test_readme_links_and_pictures_resolve():
    """Every relative link and picture of the README names a file of the repository (on GitHub and
    in a checkout they open the documentation's Markdown pages)."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("docs/") for t in local), "the README should link into the documentation"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_library_example_is_python_of_at_most_12_lines():
    block = README.split("```python\n", 1)[1].split("```", 1)[0]
    ast.parse(block)
    assert len(block.strip().splitlines()) <= 12
