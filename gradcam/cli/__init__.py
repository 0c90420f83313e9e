"""The command-line tool: ``python -m gradcam COMMAND ...``.

Each command is a module of this package with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> exit status``; add a module to ``COMMANDS`` to add a command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import compare_models, concepts, dataset, evaluate, explain, listing

#: Each a module or namespace with NAME, HELP, add_arguments(parser) and run(args) -> exit code.
COMMANDS: list[Any] = [explain, compare_models, evaluate, concepts, *listing.COMMANDS, dataset]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gradcam",
        description="Grad-CAM Explorer: see why an image classifier decides what it decides.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
