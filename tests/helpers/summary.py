"""Figures the tests measure (name, text), printed in the terminal summary by tests/conftest.py."""

from __future__ import annotations

#: Appended to by tests that measure something worth reading (memory over time, concurrent sessions).
FIGURES: list[tuple[str, str]] = []
