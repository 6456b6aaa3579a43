"""Create or update the project's Prefect blocks: ``python -m blocks``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from blocks.project import BlockNames, save_project_blocks
from flows.settings import TrendsSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Save the blocks the environment describes and print one line per block."""
    defaults = BlockNames()
    parser = argparse.ArgumentParser(
        prog="python -m blocks",
        description="Register the block types and create or update, from the "
        "environment, the AWS credentials, archive bucket, database connector and "
        "X token blocks, and the X API request budget. Secrets are never printed.",
    )
    parser.add_argument("--aws-block", default=defaults.aws, metavar="NAME")
    parser.add_argument("--archive-block", default=defaults.archive, metavar="NAME")
    parser.add_argument("--database-block", default=defaults.database, metavar="NAME")
    parser.add_argument("--token-block", default=defaults.token, metavar="NAME")
    args = parser.parse_args(argv)

    names = BlockNames(
        aws=args.aws_block,
        archive=args.archive_block,
        database=args.database_block,
        token=args.token_block,
    )
    save_project_blocks(names, TrendsSettings(), print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
