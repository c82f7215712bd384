"""The running contract: `ticketing run` serves /readyz on $PORT and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.ports import a_free_port


def system_env(tmp_path, database_url: str | None = None) -> dict[str, str]:
    """An environment for a whole system on free ports, in its own data folder."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TICKETING_") and k not in {"DATABASE_URL", "REDIS_URL", "PORT"}
    }  # fmt: skip
    port, sandbox_port = a_free_port(), a_free_port()
    env |= {
        "PORT": str(port),
        "TICKETING_DATA_DIR": str(tmp_path / "data"),
        "TICKETING_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TICKETING_USERS_ADDR": f"127.0.0.1:{a_free_port()}",
        "TICKETING_TICKETS_ADDR": f"127.0.0.1:{a_free_port()}",
        "TICKETING_PAYMENTS_ADDR": f"127.0.0.1:{a_free_port()}",
        "TICKETING_NOTIFICATIONS_ADDR": f"127.0.0.1:{a_free_port()}",
        "TICKETING_SANDBOX_PORT": str(sandbox_port),
        "TICKETING_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
    }
    if database_url:
        # The servers' mode: PostgreSQL and Redis (read models under a root of their own).
        env["DATABASE_URL"] = database_url
        env["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        env["TICKETING_REDIS_NAMESPACE"] = f"e2e-{uuid.uuid4().hex[:12]}"
    return env


def wait_for_readyz(
    base_url: str, process: subprocess.Popen, seconds: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        assert process.poll() is None, f"ticketing exited early with {process.returncode}"
        try:
            last = httpx.get(f"{base_url}/readyz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if last.status_code == 200:
            return last
        time.sleep(0.2)
    raise AssertionError(f"the gateway never became ready: {last and last.text}")


@pytest.fixture(params=["embedded", "postgres"])
def run_env(request, tmp_path):
    if request.param == "postgres":
        return system_env(tmp_path, request.getfixturevalue("fresh_database_url"))
    return system_env(tmp_path)


def test_ticketing_run_becomes_ready_and_stops_cleanly_on_sigterm(run_env):
    base_url = f"http://127.0.0.1:{run_env['PORT']}"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=run_env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ready = wait_for_readyz(base_url, process)
        assert ready.json() == {"status": "ready"}
        assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        output = process.stdout.read().decode()
        assert "ticketing: stopped" in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/healthz", timeout=2)


def test_readyz_names_every_service_that_does_not_answer(tmp_path):
    env = system_env(tmp_path)
    base_url = f"http://127.0.0.1:{env['PORT']}"
    gateway = subprocess.Popen(
        [sys.executable, "-c", "from command_api.main import main; main()"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        response = None
        # The in-memory read models are rebuilt (from empty logs here) before they count as up.
        while time.monotonic() < deadline and (
            response is None or "read_models" in response.json()["failing"]
        ):
            try:
                response = httpx.get(f"{base_url}/readyz", timeout=10)
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None
        assert response.status_code == 503
        assert set(response.json()["failing"]) == {
            "users",
            "tickets",
            "payments",
            "notifications",
            "sandbox",
        }
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
