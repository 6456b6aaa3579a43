"""The ECS deployment renders offline into a task definition and a run request."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.validate import ParamValidator
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun
from prefect.utilities.templating import apply_values
from prefect_aws import AwsCredentials
from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

from deploy.work_pools import credentials_block_id, ecs_base_job_template, main
from tests.project_files import deployment

REGION = "ca-central-1"
IMAGE = "123456789012.dkr.ecr.ca-central-1.amazonaws.com/x-trends:2026.12.03"
TASK_DEFINITION_ARN = "arn:aws:ecs:ca-central-1:123456789012:task-definition/x-trends:1"
ROLES = {
    "task_role_arn": "arn:aws:iam::123456789012:role/x-trends-task",
    "execution_role_arn": "arn:aws:iam::123456789012:role/x-trends-execution",
}
NETWORK = {"subnets": ["subnet-0a1b2c3d"], "security_groups": ["sg-0a1b2c3d"]}
SECRET_ACCESS_KEY = "fake-secret-access-key-" + uuid.uuid4().hex


@pytest.fixture
def aws_credentials_block() -> AwsCredentials:
    """The block the pool's template names, holding a secret that must not leak."""
    block = AwsCredentials(
        aws_access_key_id="AKIAFAKEFAKEFAKE",
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    block.save("x-trends-aws", overwrite=True)
    return block


def ecs_job_variables(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """daily-trends-ecs's job variables as `prefect deploy` would send them."""
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", "s3://x-trends-archive/raw")
    job_variables = deployment("daily-trends-ecs")["work_pool"]["job_variables"]
    step_outputs = {"build-image": {"image": IMAGE}}
    rendered: dict[str, Any] = apply_values(job_variables, step_outputs)
    return {**rendered, **ROLES, **NETWORK}


async def render(
    job_variables: dict[str, Any],
) -> tuple[ECSJobConfiguration, dict[str, Any], dict[str, Any]]:
    flow_run = FlowRun(
        flow_id=uuid.uuid4(), deployment_id=uuid.uuid4(), name="daily-trends-test"
    )
    template = ecs_base_job_template(await _block_id("x-trends-aws"))
    configuration = await ECSJobConfiguration.from_template_and_values(
        template, job_variables
    )
    configuration.prepare_for_flow_run(flow_run)
    worker = ECSWorker(work_pool_name="x-trends-ecs", create_pool_if_not_found=False)
    task_definition = worker._prepare_task_definition(configuration, REGION, flow_run)
    run_request = worker._prepare_task_run_request(
        configuration, task_definition, TASK_DEFINITION_ARN, True
    )
    return configuration, task_definition, run_request


async def _block_id(name: str) -> str:
    block = await AwsCredentials.aload(name)
    return str(block._block_document_id)


def assert_valid_for(operation: str, parameters: dict[str, Any]) -> None:
    """Check parameters against botocore's model of the ECS API, offline."""
    client = boto3.session.Session(region_name=REGION).client(
        "ecs", aws_access_key_id="unused", aws_secret_access_key="unused"
    )
    shape = client.meta.service_model.operation_model(operation).input_shape
    report = ParamValidator().validate(parameters, shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.anyio
@pytest.mark.usefixtures("aws_credentials_block")
async def test_the_ecs_deployment_renders_a_valid_task_definition_and_run_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, task_definition, run_request = await render(ecs_job_variables(monkeypatch))

    assert_valid_for("RegisterTaskDefinition", task_definition)
    assert_valid_for("RunTask", run_request)
    (container,) = task_definition["containerDefinitions"]
    assert container["image"] == IMAGE
    assert (task_definition["cpu"], task_definition["memory"]) == ("512", "1024")
    assert task_definition["executionRoleArn"] == ROLES["execution_role_arn"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == (
        "/x-trends/flow-runs"
    )
    assert run_request["overrides"]["taskRoleArn"] == ROLES["task_role_arn"]
    assert run_request["launchType"] == "FARGATE"
    assert run_request["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": NETWORK["subnets"],
        "securityGroups": NETWORK["security_groups"],
        "assignPublicIp": "DISABLED",
    }
    environment = {
        item["name"]: item["value"]
        for item in run_request["overrides"]["containerOverrides"][0]["environment"]
    }
    assert environment["TRENDS_ARCHIVE_URL"] == "s3://x-trends-archive/raw"
    assert "PREFECT__FLOW_RUN_ID" in environment


@pytest.mark.anyio
@pytest.mark.usefixtures("aws_credentials_block")
async def test_the_credentials_block_reaches_the_worker_but_not_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configuration, task_definition, run_request = await render(
        ecs_job_variables(monkeypatch)
    )

    assert configuration.aws_credentials is not None
    secret = configuration.aws_credentials.aws_secret_access_key
    assert secret is not None and secret.get_secret_value() == SECRET_ACCESS_KEY
    rendered = json.dumps([task_definition, run_request])
    assert SECRET_ACCESS_KEY not in rendered
    assert "AKIAFAKEFAKEFAKE" not in rendered


def test_no_deployment_passes_credentials_in_its_job_variables() -> None:
    for name in (
        "daily-trends-ecs",
        "daily-trends-process",
        "backfill",
        "backfill-ecs",
    ):
        job_variables = json.dumps(deployment(name)["work_pool"]["job_variables"])
        for word in ("aws_credentials", "secret", "token", "password", "key"):
            assert word not in job_variables.lower(), (name, word)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.usefixtures("aws_credentials_block")
def test_a_prefect_server_accepts_the_written_template_for_an_ecs_work_pool(
    tmp_path: Path,
) -> None:
    written = tmp_path / "ecs-template.json"

    assert main(["--output", str(written)]) == 0

    name = f"x-trends-ecs-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="ecs",
                base_job_template=json.loads(written.read_text()),
            )
        )
        pool = client.read_work_pool(name)
    credentials = pool.base_job_template["variables"]["properties"]["aws_credentials"]
    assert credentials["default"] == {
        "$ref": {"block_document_id": credentials_block_id("x-trends-aws")}
    }


def test_writing_the_template_without_the_credentials_block_says_what_to_create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--output", str(tmp_path / "t.json"), "--credentials-block", "nope"])

    assert status == 2
    assert "No AwsCredentials block named 'nope'" in capsys.readouterr().err
