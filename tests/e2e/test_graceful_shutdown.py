"""SIGTERM in the middle of a rush loses no acknowledged order and oversells nothing.

The whole `ticketing run` is stopped while hundreds of buyers are placing orders. Requests
already in flight are finished (the gateway stops first, then the services it calls, each
draining its group-commit queues); later ones are refused. After a restart every order that
was answered 201 is there, held, and no more tickets are held or sold than exist.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import (
    SUPERADMIN_EMAIL,
    SUPERADMIN_PASSWORD,
    RunningSystem,
    forget_read_models,
    stop_system,
)
from tests.e2e.test_http_journeys import an_admin, an_event_on_sale, order_body
from tests.e2e.test_run_contract import system_env, wait_for_readyz

BUYERS = 600
STOCK = 400
IN_FLIGHT = 40  # buyers waiting for an answer at any moment


@pytest.fixture(params=["postgres", "embedded"])
def run_env(request, tmp_path):
    if request.param == "postgres":
        env = system_env(tmp_path, request.getfixturevalue("fresh_database_url"))
    else:
        env = system_env(tmp_path)
    env |= {
        "TICKETING_SUPERADMIN_EMAIL": SUPERADMIN_EMAIL,
        "TICKETING_SUPERADMIN_PASSWORD": SUPERADMIN_PASSWORD,
    }
    yield env
    if "REDIS_URL" in env:
        forget_read_models(env)


def start(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


async def rush_then_sigterm(system: RunningSystem, event, ticket, process) -> list:
    """Every buyer's answer (or the error that stood for one); SIGTERM after the first 201."""
    terminated = asyncio.Event()
    turns = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60, limits=limits) as http:

        async def buy(buyer: int) -> httpx.Response | Exception:
            try:
                async with turns:
                    answer = await http.post(
                        "/orders",
                        json=order_body(event, ticket, 1, email=f"fan{buyer}@example.com"),
                        headers={"Idempotency-Key": f"rush-{uuid.uuid4()}"},
                    )
            except httpx.TransportError as error:
                return error
            if answer.status_code == 201 and not terminated.is_set():
                terminated.set()
                os.killpg(process.pid, signal.SIGTERM)
            return answer

        return await asyncio.gather(*(buy(buyer) for buyer in range(BUYERS)))


def test_sigterm_during_a_rush_loses_no_acknowledged_order(run_env, tmp_path):
    system = RunningSystem(run_env["TICKETING_PUBLIC_URL"], run_env)
    log = (tmp_path / "run.log").open("ab")
    process = start(run_env, log)
    try:
        wait_for_readyz(system.base_url, process)
        event, ticket = an_event_on_sale(system, an_admin(system), stock=STOCK)

        answers = asyncio.run(rush_then_sigterm(system, event, ticket, process))
        assert process.wait(timeout=90) == 0

        acknowledged = [
            a.json() for a in answers if isinstance(a, httpx.Response) and a.status_code == 201
        ]
        refused = [a for a in answers if isinstance(a, httpx.Response) and a.status_code >= 500]
        assert acknowledged
        unanswered = [a for a in answers if not isinstance(a, httpx.Response)]
        assert unanswered or refused, "the rush ended before the stop: nothing was cut short"
        assert len(acknowledged) <= STOCK
        assert len({order["id"] for order in acknowledged}) == len(acknowledged)
        # Refusals while stopping are clean problem documents, never a crash page.
        for answer in refused:
            assert answer.headers["content-type"].startswith("application/problem+json")

        process = start(run_env, log)
        wait_for_readyz(system.base_url, process)
        with system.client() as http:
            for order in acknowledged:
                again = http.get(f"/orders/{order['id']}", params={"token": order["order_token"]})
                assert again.status_code == 200, again.text
                assert again.json()["status"] == "pending"
                assert again.json()["ticket_id"] == ticket["id"]
            taken = tickets_taken(http, event["id"], len(acknowledged))
        assert len(acknowledged) <= taken <= STOCK
    finally:
        if process.poll() is None:
            stop_system(process, seconds=60)
        log.close()


def tickets_taken(http: httpx.Client, event_id: str, at_least: int, seconds: float = 15) -> int:
    """Held plus sold, per the read model, once it shows at least at_least (or time runs out)."""
    deadline = time.monotonic() + seconds
    while True:
        [item] = http.get(f"/events/{event_id}/tickets").json()["items"]
        taken = STOCK - item["remaining"]
        if taken >= at_least or time.monotonic() > deadline:
            return taken
        time.sleep(0.2)
