"""Command-line options that the flows' commands share."""

from __future__ import annotations

import argparse

from tasks.locations import DEFAULT_WOEIDS


def add_locations_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--locations WOEID,...``, defaulting to Canada and its trend cities."""
    parser.add_argument(
        "--locations",
        type=woeid_list,
        default=list(DEFAULT_WOEIDS),
        metavar="WOEID,...",
        help="comma-separated WOEIDs (default: Canada and its eight trend cities)",
    )


def woeid_list(text: str) -> list[int]:
    """Parse ``23424775,4118`` into WOEIDs, for argparse."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated WOEIDs such as 23424775,4118; got {text!r}"
        ) from None
