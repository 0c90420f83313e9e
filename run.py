#!/usr/bin/env python3
"""One entry point for a fresh machine: make the virtual environment, then run the app or the tests.

    python3 run.py app      # the web app on the built-in offline model (gradcam-app; streamlit options pass)
    python3 run.py test     # the whole test suite (pytest)
    python3 run.py lint     # ruff check . and ruff format --check . (what .ci/run and pre-commit run)
    python3 run.py typecheck  # mypy on gradcam/ and model_zoo/ (settings in pyproject.toml [tool.mypy])
    python3 run.py bench    # the engine benchmark, with tf-keras-vis installed for comparison
    python3 run.py docs     # the documentation site on http://127.0.0.1:8000 (mkdocs serve; options pass)
    python3 run.py docs build   # the site built strictly into site/, as CI does (mkdocs build --strict)
    python3 run.py cli ...  # the command-line tool: python -m gradcam ...

The environment lives in .venv beside this file. The project is installed into it from
pyproject.toml, the one list of dependencies (`pip install -e ".[test,docs]"` for the tests and the
lint, so that the test of the documentation site runs too; `-e .` for the app and the CLI;
`-e ".[docs]"` for the site; `-e ".[test,bench]"` for the benchmark): when the venv is missing, or
when pyproject.toml changed since the last install (a hash of it is kept in the venv).
Only the standard library is used here, so any Python 3.10+ can run it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYPROJECT = ROOT / "pyproject.toml"
#: The extras of pyproject.toml's [project.optional-dependencies] that each task installs.
EXTRAS = {
    "app": [],
    "cli": [],
    "test": ["test", "docs"],
    "lint": ["test", "docs"],
    "typecheck": ["test", "docs"],
    "bench": ["test", "bench"],
    "docs": ["docs"],
}


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_target(extras: list[str]) -> str:
    """The argument for ``pip install -e``: the project folder, with its extras if any."""
    return f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)


def pyproject_hash(extras: list[str]) -> str:
    """Changes when pyproject.toml (dependencies, extras, entry points) or the extras asked for do."""
    digest = hashlib.sha256(PYPROJECT.read_bytes())
    digest.update(",".join(extras).encode())
    return digest.hexdigest()


def ensure_environment(task: str) -> Path:
    python = venv_python()
    if not python.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    extras = EXTRAS[task]
    wanted = pyproject_hash(extras)
    # One stamp per set of extras: `lint` after `test` installs nothing more.
    stamp = VENV / f".installed-{'-'.join(extras) or 'app'}"
    if not stamp.exists() or stamp.read_text() != wanted:
        target = install_target(extras)
        print(f"Installing {target} (editable, from pyproject.toml) into {VENV} (once; a few minutes) ...", flush=True)
        subprocess.check_call(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip"]
        )
        # Editable: the console scripts (gradcam, gradcam-app) land in .venv/bin and run this checkout's code.
        subprocess.check_call([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target])
        stamp.write_text(wanted)
    return python


def docs_command(python: Path, rest: list[str]) -> list[str]:
    """`mkdocs serve` (live reload on http://127.0.0.1:8000), or with `build` first, a strict build
    into site/ (a broken link or API reference fails it, as in CI). Other options pass through."""
    # Material prints a notice about MkDocs 2 on every run; it says nothing about this site.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    if rest[:1] == ["build"]:
        return [str(python), "-m", "mkdocs", "build", "--strict", *rest[1:]]
    return [str(python), "-m", "mkdocs", "serve", *rest]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    python = ensure_environment(task)
    os.chdir(ROOT)
    if task == "app":
        # gradcam_app.serve: `streamlit run` on the page, with the default model warmed up meanwhile.
        command = [str(python), "-m", "gradcam_app.serve", *rest]
    elif task == "test":
        command = [str(python), "-m", "pytest", *rest]
    elif task == "lint":
        # Lint, then the formatter's check: both must pass (`ruff format .` mends the second).
        failed = subprocess.call([str(python), "-m", "ruff", "check", ".", *rest])
        command = [str(python), "-m", "ruff", "format", "--check", "."]
        if failed:
            return failed
    elif task == "typecheck":
        # The files and the strictness are pyproject.toml's [tool.mypy]; zero errors is the bar.
        command = [str(python), "-m", "mypy", *rest]
    elif task == "bench":
        command = [str(python), "benchmarks/bench_engine.py", *rest]
    elif task == "docs":
        command = docs_command(python, rest)
    else:
        command = [str(python), "-m", "gradcam", *rest]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
