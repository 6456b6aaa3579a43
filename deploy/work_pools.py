"""The ECS work pool's base job template, bound to the project's credentials block.

A work pool refers to a block by its document id, which exists only once the block
is saved, so the template in the repository leaves the reference out and this module
fills it in::

    python -m deploy.work_pools --output ecs-template.json
    prefect work-pool create x-trends-ecs --type ecs \\
        --base-job-template ecs-template.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ECS_TEMPLATE = Path(__file__).resolve().parent / "ecs-base-job-template.json"
AWS_CREDENTIALS_BLOCK = "x-trends-aws"


def ecs_base_job_template(credentials_block_id: str) -> dict[str, Any]:
    """The repository's ECS template with the credentials block as its default."""
    template: dict[str, Any] = json.loads(ECS_TEMPLATE.read_text())
    bound = copy.deepcopy(template)
    credentials = bound["variables"]["properties"]["aws_credentials"]
    credentials["default"] = {"$ref": {"block_document_id": credentials_block_id}}
    return bound


def credentials_block_id(block_name: str) -> str:
    """The document id of a saved AwsCredentials block.

    Raises:
        LookupError: when no AwsCredentials block of that name is saved.
    """
    from prefect.exceptions import ObjectNotFound
    from prefect_aws import AwsCredentials

    try:
        block = AwsCredentials.load(block_name)
    except (ObjectNotFound, ValueError) as error:
        raise LookupError(
            f"No AwsCredentials block named {block_name!r} is saved on the Prefect "
            "API; create it first (python -m blocks), or pass --credentials-block "
            "with the name of the one the ECS worker should use."
        ) from error
    # Called from synchronous code, load returns the block itself.
    assert isinstance(block, AwsCredentials)
    return str(block._block_document_id)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the ECS base job template, bound to the credentials block, to a file."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy.work_pools",
        description="Write the ECS work pool's base job template for "
        "`prefect work-pool create --base-job-template`.",
    )
    parser.add_argument("--output", type=Path, required=True, metavar="FILE")
    parser.add_argument("--credentials-block", default=AWS_CREDENTIALS_BLOCK)
    args = parser.parse_args(argv)
    try:
        block_id = credentials_block_id(args.credentials_block)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 2
    template = ecs_base_job_template(block_id)
    args.output.write_text(json.dumps(template, indent=2) + "\n")
    print(
        f"Wrote the ECS base job template to {args.output}, using AwsCredentials "
        f"block {args.credentials_block!r}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
