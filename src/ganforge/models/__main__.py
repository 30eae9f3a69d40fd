"""`python -m ganforge.models`: the tables of model families and their options, rendered from their declarations.

    python -m ganforge.models                   print them (markdown)
    python -m ganforge.models --readme          rewrite the block between the markers in ./docs/images.md
    python -m ganforge.models --readme PATH     ... in another file
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ganforge.models import README_MARKERS, options_table


def with_table(text: str) -> str:
    """`text` (a page of the docs) with the block between `README_MARKERS` replaced by the current `options_table()`."""
    start, end = README_MARKERS
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one {start} … {end} block")
    before, rest = text.split(start)
    return f"{before}{start}\n\n{options_table()}\n{end}{rest.split(end)[1]}"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the tables, or rewrite them in a README; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ganforge.models", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", nargs="?", const="docs/images.md", metavar="PATH",
                        help="rewrite the block between the markers in this file (default docs/images.md)")
    args = parser.parse_args(argv)
    if args.readme is None:
        print(options_table(), end="")
        return 0
    path = Path(args.readme)
    try:
        path.write_text(with_table(path.read_text()))
    except (OSError, ValueError) as error:
        print(f"python -m ganforge.models: error: {path}: {error}", file=sys.stderr)
        return 2
    print(f"rewrote the model tables in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
