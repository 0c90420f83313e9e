"""The documentation site is part of the interface: it builds strictly, and the pages that list the
methods and the CLI's commands cover every one of them."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: What `pip install -e ".[docs]"` brings (module names); the build needs all three.
DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings_handlers.python")


def missing_docs_tools() -> list[str]:
    return [name for name in DOCS_TOOLS if importlib.util.find_spec(name.split(".")[0]) is None]


def test_site_builds_strictly(tmp_path):
    """`mkdocs build --strict` (what `.ci/run` runs): a broken link, an anchor that does not exist, a
    page missing from the nav, an API reference that no longer resolves, or a build that imported
    TensorFlow (scripts/docs_hooks.py warns) fails here with the build's own message."""
    missing = missing_docs_tools()
    if missing:
        reason = (
            f"documentation tools not installed ({', '.join(missing)}): pip install -e '.[docs]' "
            "(python3 run.py test installs them) to build the site"
        )
        print(f"\n*** DOCS BUILD SKIPPED: {reason} ***", file=sys.stderr)
        pytest.skip(reason)
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + output[-6000:]
    # The pages the code writes into the site are there, with the code's own words.
    cli = (site / "cli" / "index.html").read_text()
    assert "usage: python -m gradcam dataset run" in cli
    methods = (site / "methods" / "index.html").read_text()
    assert "arXiv:1610.02391" in methods and "window" in methods  # a paper, and occlusion's option
    api = (site / "api" / "gradcam" / "index.html").read_text()
    assert 'id="gradcam.Explainer"' in api and 'id="gradcam.evaluate"' in api


def test_every_registered_method_has_a_section_on_the_methods_page():
    """docs/methods.md has one `<!-- method: KEY -->` card per registered method, in the registry's
    order (the build checks it too; this runs without the documentation tools)."""
    import gradcam

    page = (DOCS / "methods.md").read_text()
    cards = re.findall(r"<!-- method:\s*(\S+)\s*-->", page)
    assert cards == list(gradcam.METHODS)
    for key, method in gradcam.METHODS.items():
        heading = f"## {method.label}\n\n<!-- method: {key} -->"
        assert heading in page, f"methods.md: expected a section '## {method.label}' holding the card of {key!r}"


def test_every_cli_command_has_its_help_on_the_cli_page():
    from gradcam.cli import COMMANDS

    page = (DOCS / "cli.md").read_text()
    for command in COMMANDS:
        assert f"## {command.NAME}\n\n<!-- cli-help: {command.NAME} -->" in page, command.NAME


def test_tutorials_and_guides_hold_valid_python():
    """Every ```python block of the documentation parses (the tutorials were run when written; a
    renamed call is caught by the reader, a syntax slip here)."""
    blocks = 0
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            blocks += 1
            try:
                ast.parse(block)
            except SyntaxError as error:
                pytest.fail(f"{page.relative_to(ROOT)}: a python block does not parse: {error}\n{block}")
    assert blocks >= 10


def test_the_screenshots_come_from_the_script_that_makes_them():
    """Every app_*.png the site shows is one that scripts/make_docs_screenshots.py takes, and every
    shot it takes is shown somewhere."""
    script = (ROOT / "scripts" / "make_docs_screenshots.py").read_text()
    names = set(re.findall(r'"(\w+)": lambda page, url', script))
    shown = set()
    for page in DOCS.rglob("*.md"):
        shown |= set(re.findall(r"images/app_(\w+)\.png", page.read_text()))
    assert shown == names
    for name in names:
        assert (DOCS / "images" / f"app_{name}.png").is_file(), f"run scripts/make_docs_screenshots.py --only {name}"
