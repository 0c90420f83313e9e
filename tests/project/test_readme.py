"""The README is part of the interface: its method table and commands must match the code."""

from __future__ import annotations

import re
from pathlib import Path

import gradcam

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_method_table_matches_the_registry():
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", README, re.M)
    table = {key: (label.strip(), paper.strip()) for key, label, _, _, paper in rows}
    assert list(table) == list(gradcam.METHODS)
    for key, method in gradcam.METHODS.items():
        assert table[key] == (method.label, method.paper)


def test_quick_start_is_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["python3 run.py app", "python3 run.py test"]
