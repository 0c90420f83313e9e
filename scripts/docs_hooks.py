"""MkDocs hooks (mkdocs.yml ``hooks:``): pages that the code writes, so they cannot drift from it.

* ``<!-- cli-help: dataset run -->`` becomes the output of ``python -m gradcam dataset run --help``,
  read from the CLI's own parser (``gradcam.cli.build_parser``; no TensorFlow is imported).
* ``<!-- method: gradcam++ -->`` becomes the registered method's card: label, key, summary, paper,
  cost and options, read from ``gradcam.METHODS`` (the registry imports NumPy only).

The build also warns, and so fails in strict mode, when it imported TensorFlow: the API reference
is read statically by griffe, and these two hooks need only the parser and the registry, so a
TensorFlow import would mean a module started importing it at the top and made the build slow.

The build fails (and so ``mkdocs build --strict``, CI and tests/test_docs.py) when a command of the
CLI has no help block on cli.md, when a registered method has no card on methods.md, or when a
marker names a command or a method that does not exist.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # The build documents this checkout's code, also when the package is not installed.
    sys.path.insert(0, str(ROOT))

CLI_HELP = re.compile(r"<!-- cli-help:\s*([a-z0-9 -]*?)\s*-->")
METHOD = re.compile(r"<!-- method:\s*(\S+)\s*-->")
#: A reST role before a code span, as the docstrings write cross-references (":func:`load_model`");
#: Markdown keeps the role as text, so the rendered page would read ":func:load_model".
REST_ROLE = re.compile(r":(?:py:)?(?:func|class|data|meth|mod|attr|exc|obj):(?=<code>)")
#: Help text is wrapped at this width (what fits the page), whatever the terminal that builds the site.
HELP_COLUMNS = "80"
log = logging.getLogger("mkdocs.hooks.docs_hooks")


def cli_help(words: list[str]) -> str:
    """What ``python -m gradcam WORDS... --help`` prints."""
    from gradcam.cli import build_parser

    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            build_parser().parse_args([*words, "--help"])
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    text = out.getvalue().strip()
    if not text.startswith("usage:"):
        raise PluginError(f"`python -m gradcam {' '.join(words)} --help` printed no help: is it a command?")
    return text


def method_card(key: str) -> str:
    """The registered method ``key`` as a Markdown block."""
    from gradcam.methods import METHODS

    method = METHODS.get(key)
    if method is None:
        raise PluginError(f"methods page: no registered method {key!r}; registered: {', '.join(METHODS)}")
    where = "a layer's spatial grid" if method.uses_layer else "the input pixels"
    slow = " (slow: the app shows progress)" if method.slow else ""
    lines = [
        f"*{method.summary}*",
        "",
        f'- **Key:** `{method.key}` (`explain(..., method="{method.key}")`, `--method {method.key}`)',
        f"- **Paper:** {method.paper}",
        f"- **Map at:** {where}; **cost:** {method.passes}{slow}",
    ]
    if not method.class_specific:
        lines.append("- **Class:** the map is the same for every class")
    if method.options:
        lines.append("- **Options** (keyword arguments of `explain`, or `--option NAME=VALUE`):")
        lines += [f"    - `{o.name}` (default `{o.default!r}`): {o.help}" for o in method.options]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Expand the markers, and check that cli.md and methods.md cover every command and method."""
    source = page.file.src_uri
    if source == "cli.md":
        from gradcam.cli import COMMANDS

        present = {match.split()[0] for match in CLI_HELP.findall(markdown) if match}
        missing = [command.NAME for command in COMMANDS if command.NAME not in present]
        if missing:
            raise PluginError(f"cli.md: no `<!-- cli-help: NAME -->` block for {', '.join(missing)}")
    if source == "methods.md":
        from gradcam.methods import METHODS

        present = METHOD.findall(markdown)
        missing = [key for key in METHODS if key not in present]
        if missing:
            raise PluginError(f"methods.md: no `<!-- method: KEY -->` card for {', '.join(missing)}")
    markdown = CLI_HELP.sub(lambda m: "```text\n" + cli_help(m.group(1).split()) + "\n```", markdown)
    return METHOD.sub(lambda m: method_card(m.group(1)), markdown)


def on_page_content(html: str, page, config, files) -> str:
    """Drop the reST roles left before code spans in the API pages (the name stays, as code)."""
    return REST_ROLE.sub("", html)


def on_post_build(config) -> None:
    """Warn (a failure in strict mode) when the build imported TensorFlow."""
    if "tensorflow" in sys.modules:
        log.warning(
            "the documentation build imported TensorFlow (seconds, for nothing): gradcam.cli and "
            "gradcam.methods should import it only when a command or a method runs"
        )
