"""Readers of the project's deployment files, shared by the deployment tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_DIR / "prefect.yaml"
ECS_TEMPLATE = PROJECT_DIR / "deploy" / "ecs-base-job-template.json"
LAMBDA_TEMPLATE = PROJECT_DIR / "deploy" / "lambda.yaml"
DOCKERFILE = PROJECT_DIR / "Dockerfile"


def prefect_project() -> dict[str, Any]:
    project: dict[str, Any] = yaml.safe_load(PREFECT_YAML.read_text())
    return project


def deployment(name: str) -> dict[str, Any]:
    """One deployment of prefect.yaml by name."""
    for entry in prefect_project()["deployments"]:
        if entry["name"] == name:
            return dict(entry)
    raise LookupError(f"prefect.yaml has no deployment named {name!r}")


def ecs_base_job_template() -> dict[str, Any]:
    template: dict[str, Any] = json.loads(ECS_TEMPLATE.read_text())
    return template
