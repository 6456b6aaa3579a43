"""A real Prefect server in a subprocess, with its UI, services and a loopback port.

The session's test harness serves the API only and runs no automations, so the
deployment tests start `prefect server start` once per session on a free port of
127.0.0.1, with a home folder and SQLite database of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.project_files import PREFECT_YAML, PROJECT_DIR

PROCESS_POOL = "x-trends-process"
STARTUP_TIMEOUT = 180.0
COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class PrefectServer:
    """Where the server listens, and the environment a client process needs."""

    url: str
    home: Path

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """This process's environment, pointed at the server with its own home."""
        env = {
            **os.environ,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(home),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
            **extra,
        }
        env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
        return env

    def prefect(
        self, *args: str, home: Path, cwd: Path | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the prefect CLI against the server; fail the test if it fails."""
        command = [sys.executable, "-m", "prefect", *args]
        result = subprocess.run(
            command,
            env=self.client_env(home, **extra),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        assert result.returncode == 0, (
            f"prefect {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
        return result


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
            f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        ),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_UI_API_URL": f"{url}/api",
        "PREFECT_API_URL": "",
    }
    command = [sys.executable, "-m", "prefect", "server", "start"]
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_healthy(url, process, home / "server.log")
        yield PrefectServer(url=url, home=home)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(
        f"prefect server did not answer on {url} within {STARTUP_TIMEOUT:.0f}s:\n"
        f"{log.read_text()}"
    )


def save_project_blocks(server: PrefectServer, home: Path) -> str:
    """Run the blocks command against the server, from this process's environment."""
    command = [sys.executable, "-m", "blocks"]
    result = subprocess.run(
        command,
        env=server.client_env(home),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"python -m blocks exited {result.returncode}:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def deploy_process_deployment(server: PrefectServer, home: Path, *names: str) -> None:
    """Create the process pool and deploy the named deployments of prefect.yaml
    (daily-trends-process when none is named)."""
    server.prefect(
        "work-pool",
        "create",
        PROCESS_POOL,
        "--type",
        "process",
        "--overwrite",
        home=home,
    )
    selected = [
        arg for name in names or ("daily-trends-process",) for arg in ("--name", name)
    ]
    server.prefect(
        "--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML), *selected,
        home=home, cwd=PROJECT_DIR, TRENDS_PROJECT_DIR=str(PROJECT_DIR),
    )  # fmt: skip


def run_worker_once(server: PrefectServer, home: Path, **env: str) -> None:
    """Let a process worker run the pool's due flow runs, then stop."""
    server.prefect(
        "worker", "start", "--pool", PROCESS_POOL, "--run-once",
        home=home, cwd=PROJECT_DIR, **env,
    )  # fmt: skip
