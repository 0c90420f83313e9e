"""The tests are laid out like the code: one folder per package, shared helpers in
``tests/helpers``, and no test file importing another test file (or a conftest)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Test folders and what each covers; a new folder is added here on purpose.
FOLDERS = {
    "engine": "gradcam (the explanation engine)",
    "app": "gradcam_app (the web page, with AppTest)",
    "zoo": "model_zoo",
    "dataset": "gradcam.dataset",
    "cli": "gradcam.cli",
    "e2e": "the page in a real browser",
    "project": "packaging, README, docs, layout",
}


def test_every_test_file_sits_in_a_folder_named_for_what_it_covers():
    misplaced = [str(path.relative_to(TESTS)) for path in TESTS.rglob("test_*.py") if path.parent.name not in FOLDERS]
    assert not misplaced, f"test files outside {sorted(FOLDERS)}: {misplaced}"
    for folder in FOLDERS:
        assert (TESTS / folder / "__init__.py").exists(), f"tests/{folder} needs an __init__.py"


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
            modules.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def test_no_test_file_imports_another_test_file():
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:]):
                offenders.append(f"{path.relative_to(TESTS)} imports {module}")
    assert not offenders, "import shared helpers from tests.helpers instead:\n" + "\n".join(offenders)


def test_the_rule_above_catches_a_test_importing_a_test(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("from tests.engine.test_images import encode\nfrom tests.helpers.images import raw_png\n")
    assert "tests.engine.test_images" in imported_modules(sample)
