"""A whole running system (`ticketing run` on PostgreSQL) for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from tests.e2e.test_run_contract import system_env, wait_for_readyz

SUPERADMIN_EMAIL = "root@example.com"
SUPERADMIN_PASSWORD = "correct horse battery staple"


@dataclass
class RunningSystem:
    base_url: str
    env: dict[str, str]

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def login(self, email: str, password: str) -> dict[str, str]:
        with self.client() as http:
            answer = http.post("/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def system(tmp_path_factory, request) -> Iterator[RunningSystem]:
    database_url = request.getfixturevalue("module_database_url")
    env = system_env(tmp_path_factory.mktemp("system"), database_url)
    env |= {
        "TICKETING_SUPERADMIN_EMAIL": SUPERADMIN_EMAIL,
        "TICKETING_SUPERADMIN_PASSWORD": SUPERADMIN_PASSWORD,
    }
    base_url = env["TICKETING_PUBLIC_URL"]
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=env, start_new_session=True
    )
    try:
        wait_for_readyz(base_url, process)
        yield RunningSystem(base_url, env)
    finally:
        stop_system(process)
        forget_read_models(env)


def stop_system(process: subprocess.Popen, seconds: float = 30) -> None:
    """SIGTERM to `ticketing run`'s process group; SIGKILL if it has not stopped in time."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def forget_read_models(env: dict[str, str]) -> None:
    """Delete the read models this system kept in the shared Redis."""
    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=f"{env['TICKETING_REDIS_NAMESPACE']}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
