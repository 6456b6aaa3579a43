# One image for both runtimes of x-trends.
#
# ECS: the Prefect ECS worker starts a task from this image and overrides its
# command with `prefect flow-run execute`; the deployment's pull step changes into
# WORKDIR, where the code lives.
# Lambda: the function's ImageConfig (deploy/lambda.yaml) sets the entry point to
# awslambdaric, the AWS Lambda runtime interface client from PyPI, and the command to
# the handler flows.lambda_handler.handler. The AWS Lambda Python base image would do
# the same but brings its own Python and layout; this keeps one slim Debian image
# for both.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_HOME=/tmp/prefect

WORKDIR /opt/x-trends

COPY pyproject.toml README.md ./
COPY flows ./flows
COPY tasks ./tasks
COPY blocks ./blocks
COPY deploy ./deploy
RUN pip install ".[lambda]"

# Lambda runs the image as an unprivileged user: nothing here may need root.
USER 1000

# A plain `docker run` collects once; ECS and Lambda set their own commands.
CMD ["python", "-m", "flows.trends"]
