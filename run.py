#!/usr/bin/env python3
"""One entry point for a fresh machine: make the virtual environment, then run the app or the tests.

    python3 run.py app      # the web app on the built-in offline model (streamlit run streamlit_app.py)
    python3 run.py test     # the whole test suite (pytest)
    python3 run.py bench    # the engine benchmark, with tf-keras-vis installed for comparison
    python3 run.py cli ...  # the command-line tool: python -m gradcam ...

The environment lives in .venv beside this file. Requirements are installed when the venv is
missing or when a requirements file changed since the last install (a hash is kept in the venv).
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
REQUIREMENTS = {
    "app": ["requirements.txt"],
    "cli": ["requirements.txt"],
    "test": ["requirements-dev.txt"],
    "bench": ["requirements-dev.txt", "requirements-bench.txt"],
}


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements_hash(files: list[str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        # Follow "-r other.txt" includes so a change in requirements.txt also reinstalls for tests.
        for path in _with_includes(ROOT / name):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _with_includes(path: Path) -> list[Path]:
    found = [path]
    for line in path.read_text().splitlines():
        if line.strip().startswith("-r "):
            found += _with_includes(path.parent / line.strip()[3:].strip())
    return found


def ensure_environment(task: str) -> Path:
    python = venv_python()
    if not python.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = REQUIREMENTS[task]
    wanted = requirements_hash(files)
    stamp = VENV / f".installed-{task}"
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"Installing {', '.join(files)} into {VENV} (once; a few minutes) ...", flush=True)
        subprocess.check_call([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                               "-q", "--upgrade", "pip"])
        args = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        for name in files:
            args += ["-r", str(ROOT / name)]
        subprocess.check_call(args)
        stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in REQUIREMENTS:
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    python = ensure_environment(task)
    os.chdir(ROOT)
    if task == "app":
        command = [str(python), "-m", "streamlit", "run", "streamlit_app.py", *rest]
    elif task == "test":
        command = [str(python), "-m", "pytest", *rest]
    elif task == "bench":
        command = [str(python), "benchmarks/bench_engine.py", *rest]
    else:
        command = [str(python), "-m", "gradcam", *rest]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
