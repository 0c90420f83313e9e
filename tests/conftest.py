"""Shared test hooks: the browser tests' timings and skip reasons appear in the terminal summary."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    try:
        from tests.e2e.conftest import SKIP_REASONS, TIMINGS
    except ImportError:
        return
    if TIMINGS:
        terminalreporter.section("Grad-CAM Explorer timings (browser, measured, not asserted)")
        for name, seconds, note in TIMINGS:
            terminalreporter.write_line(f"{name:<45} {seconds:6.2f} s  {note}")
    for reason in dict.fromkeys(SKIP_REASONS):
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!")
        terminalreporter.write_line(reason)
