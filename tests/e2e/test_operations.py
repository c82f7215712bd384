"""Operations basics with one process per service (PostgreSQL, Redis): logs, ids, metrics."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid

import httpx

from tests.e2e.conftest import (
    SUPERADMIN_EMAIL,
    SUPERADMIN_PASSWORD,
    RunningSystem,
    forget_read_models,
)
from tests.e2e.test_http_journeys import an_admin, an_event_on_sale, order_body
from tests.e2e.test_run_contract import a_free_port, system_env, wait_for_readyz


def free_port_run(count: int) -> int:
    """A port P such that P … P+count-1 can all be bound now."""
    for _ in range(100):
        first = a_free_port()
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise AssertionError(f"no {count} free ports in a row")


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def test_request_ids_logs_and_metrics_across_the_processes(tmp_path, fresh_database_url):
    env = system_env(tmp_path, fresh_database_url)
    metrics_port = free_port_run(6)
    env |= {
        "TICKETING_SUPERADMIN_EMAIL": SUPERADMIN_EMAIL,
        "TICKETING_SUPERADMIN_PASSWORD": SUPERADMIN_PASSWORD,
        "TICKETING_LOG_FORMAT": "json",
        "TICKETING_METRICS_PORT": str(metrics_port),
    }
    system = RunningSystem(env["TICKETING_PUBLIC_URL"], env)
    log = tmp_path / "run.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"], env=env, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        try:
            wait_for_readyz(system.base_url, process)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{log.read_text(errors='replace')[-3000:]}") from None
        event, ticket = an_event_on_sale(system, an_admin(system), stock=5)
        request_id = f"ops-{uuid.uuid4().hex}"
        with system.client() as http:
            placed = http.post(
                "/orders",
                json=order_body(event, ticket, 2),
                headers={"Idempotency-Key": f"key-{uuid.uuid4()}", "X-Request-ID": request_id},
            )
            assert placed.status_code == 201, placed.text
            assert placed.headers["x-request-id"] == request_id
            unnamed = http.get("/healthz")
            assert len(unnamed.headers["x-request-id"]) >= 16  # made up when none is sent
            too_long = "x" * 300  # not taken over: a new id instead
            answer = http.get("/healthz", headers={"X-Request-ID": too_long})
            assert answer.headers["x-request-id"] not in {"", too_long}
            schema = http.get("/openapi.json").json()
            assert "/metrics" not in schema["paths"]
            gateway = http.get("/metrics")
        assert gateway.status_code == 200
        assert (
            'ticketing_http_requests_total{method="POST",route="/orders",status="201"} 1.0'
            in gateway.text
        )
        # Each other process on TICKETING_METRICS_PORT + its offset (users 0, tickets 1, …).
        tickets = scrape(metrics_port + 1)
        assert 'ticketing_holds_total{change="placed"} 1.0' in tickets
        assert (
            'ticketing_grpc_requests_total{code="OK",method="/ticketing.v1.TicketsService/ReserveBatch"}'
            in tickets
        )
        payments = scrape(metrics_port + 2)
        assert 'ticketing_orders_total{change="placed"} 1.0' in payments
        assert "ticketing_group_commit_batch_size_count" in payments
        assert "ticketing_projection_lag_notifications" in scrape(metrics_port + 5)
        assert "ticketing_receipts_queue_depth" in scrape(metrics_port + 4)

        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=90) == 0
        lines = [
            json.loads(line)
            for line in log.read_text(errors="replace").splitlines()
            if line.startswith("{")
        ]
        carried = [line for line in lines if line["request_id"] == request_id]
        assert {"gateway", "payments", "tickets"} <= {line["service"] for line in carried}
        [placement] = [line for line in carried if line.get("order_id")]
        assert placement["order_id"] == placed.json()["id"]
        assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        forget_read_models(env)
