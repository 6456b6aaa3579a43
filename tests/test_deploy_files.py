"""The image and the Lambda template fit the code they run, checked offline."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path
from typing import Any

import cfnlint.decode
from cfnlint.api import ManualArgs, lint_file

from tests.project_files import (
    DOCKERFILE,
    LAMBDA_TEMPLATE,
    PROJECT_DIR,
    deployment,
    prefect_project,
)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [
        (instruction.upper(), arguments)
        for instruction, _, arguments in (line.partition(" ") for line in logical)
    ]


def lambda_template() -> dict[str, Any]:
    template, errors = cfnlint.decode.decode(LAMBDA_TEMPLATE)
    assert not errors
    return dict(template)


def lambda_function() -> dict[str, Any]:
    properties: dict[str, Any] = lambda_template()["Resources"]["TrendsFunction"][
        "Properties"
    ]
    return properties


def test_the_image_copies_only_paths_that_exist() -> None:
    copies = [
        args.split() for kind, args in dockerfile_instructions() if kind == "COPY"
    ]

    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (PROJECT_DIR / source).exists(), source


def test_the_code_lives_where_the_pull_step_and_lambda_look_for_it() -> None:
    (workdir,) = [args for kind, args in dockerfile_instructions() if kind == "WORKDIR"]
    (pull_step,) = prefect_project()["pull"]

    assert pull_step["prefect.deployments.steps.set_working_directory"] == {
        "directory": workdir
    }
    assert lambda_function()["ImageConfig"]["WorkingDirectory"] == workdir


def test_the_image_installs_the_lambda_runtime_its_entry_point_runs() -> None:
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    runs = [args for kind, args in dockerfile_instructions() if kind == "RUN"]

    assert any('pip install ".[lambda]"' in command for command in runs)
    extra = pyproject["project"]["optional-dependencies"]["lambda"]
    assert any(requirement.startswith("awslambdaric") for requirement in extra)
    assert lambda_function()["ImageConfig"]["EntryPoint"] == [
        "python",
        "-m",
        "awslambdaric",
    ]


def test_the_lambda_command_names_a_handler_in_the_project() -> None:
    (handler_path,) = lambda_function()["ImageConfig"]["Command"]
    module_name, _, function_name = handler_path.rpartition(".")

    module = importlib.import_module(module_name)
    assert callable(getattr(module, function_name))
    assert (PROJECT_DIR / (module_name.replace(".", "/") + ".py")).is_file()


def test_the_daily_deployments_point_at_the_daily_flow() -> None:
    for name in ("daily-trends-ecs", "daily-trends-process"):
        path, _, function_name = deployment(name)["entrypoint"].partition(":")
        assert (PROJECT_DIR / path).is_file()
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert getattr(module, function_name).name == "daily-trends"


def test_the_lambda_template_passes_cfn_lint() -> None:
    matches = lint_file(LAMBDA_TEMPLATE, config=ManualArgs(regions=["ca-central-1"]))

    assert [str(match) for match in matches] == []


def test_cfn_lint_rejects_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "lambda.yaml"
    broken.write_text(
        LAMBDA_TEMPLATE.read_text().replace("PackageType: Image", "PackageType: Jar")
    )

    matches = lint_file(broken, config=ManualArgs(regions=["ca-central-1"]))

    assert any("Jar" in str(match) for match in matches)


def test_lambda_runs_daily_at_four_pm_toronto_like_the_deployments() -> None:
    (event,) = lambda_function()["Events"].values()
    (schedule,) = deployment("daily-trends-ecs")["schedules"]

    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "cron(0 16 * * ? *)"
    assert schedule["cron"] == "0 16 * * *"
    assert event["Properties"]["ScheduleExpressionTimezone"] == schedule["timezone"]
    assert json.loads(event["Properties"]["Input"])["flow"] == "daily-trends"


def test_the_lambda_role_reaches_only_the_archive_prefix_and_its_secret() -> None:
    function = lambda_function()
    (policy,) = function["Policies"]
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}

    assert set(statements) == {"ArchiveObjects", "ArchiveListing", "RunSecrets"}
    for statement in statements.values():
        actions = statement["Action"]
        actions = actions if isinstance(actions, list) else [actions]
        assert all("*" not in action for action in actions)
    assert statements["ArchiveObjects"]["Resource"] == {
        "Fn::Sub": "${ArchiveBucket.Arn}/${ArchivePrefix}/*"
    }
    assert statements["ArchiveListing"]["Condition"] == {
        "StringLike": {"s3:prefix": {"Fn::Sub": "${ArchivePrefix}/*"}}
    }
    assert statements["RunSecrets"]["Resource"] == {"Ref": "SecretsArn"}
    variables = function["Environment"]["Variables"]
    assert not {"X_BEARER_TOKEN", "PREFECT_API_KEY"} & set(variables)


def test_prefect_reads_every_deployment_of_prefect_yaml() -> None:
    # Prefect's own model of the file: what `prefect deploy` validates first.
    from prefect.cli.deploy._models import PrefectYamlModel

    project = PrefectYamlModel.model_validate(prefect_project())

    builds_image = {
        entry.name: bool(entry.build and entry.push) for entry in project.deployments
    }
    assert builds_image == {
        "daily-trends-ecs": True,
        "backfill-ecs": True,
        "daily-trends-process": False,
        "backfill": False,
    }
