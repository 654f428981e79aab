"""`spacecal config reference`: the configuration reference, generated from config.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spacecal.cli.common import Subparsers


def cmd_config_reference(args: argparse.Namespace) -> int:
    from spacecal.configdoc import render

    text = render()
    if args.check is not None:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(
                f"{args.check} is out of date: run "
                f"`spacecal config reference --output {args.check}`.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check} is up to date.")
        return 0
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"Wrote the configuration reference to {args.output}.")
        return 0
    sys.stdout.write(text)
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "config", help="configuration", description="spacecal's settings (config.py)."
    )
    group_sub = group.add_subparsers(dest="config_command", metavar="ACTION")
    ref = group_sub.add_parser(
        "reference",
        help="print the configuration reference (Markdown)",
        description="Print every setting (environment variable, type, default, bounds, "
        "meaning) as Markdown, generated from config.py; docs/configuration.md is its "
        "output.",
    )
    where = ref.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, help="write to this file instead of stdout")
    where.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="exit 1 when FILE differs from the generated reference (for CI)",
    )
    ref.set_defaults(func=cmd_config_reference)
