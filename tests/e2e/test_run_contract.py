"""The running contract: `ticketing run` serves /readyz on $PORT and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def a_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(
    base_url: str, process: subprocess.Popen, seconds: float = 30
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"ticketing run exited early with {process.returncode}"
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response
        time.sleep(0.2)
    raise AssertionError("the gateway never became ready")


@pytest.fixture(params=["embedded", "postgres"])
def run_env(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"PORT": str(a_free_port()), "TICKETING_DATA_DIR": str(tmp_path / "data")}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("database_url")
    return env


def test_ticketing_run_becomes_ready_and_stops_cleanly_on_sigterm(run_env):
    base_url = f"http://127.0.0.1:{run_env['PORT']}"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=run_env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = wait_until_ready(base_url, process)
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


def test_readyz_names_the_event_store_that_does_not_answer(run_env):
    run_env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{a_free_port()}/nowhere"
    base_url = f"http://127.0.0.1:{run_env['PORT']}"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=run_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{base_url}/readyz", timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None
        assert response.status_code == 503
        assert set(response.json()["failing"]) == {"tickets-event-store", "payments-event-store"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
