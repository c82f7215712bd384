"""The embedded default: `ticketing run` with no server URLs, on a fresh folder, end to end.

Like `make run` on a fresh clone: no DATABASE_URL, REDIS_URL, AMQP_URL or SMTP_URL, no data
folder yet. A purchase goes through over HTTP, then the system is stopped with SIGTERM and
started again on the same folder: the event, the order, the read models and the logins are
all still there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, RunningSystem
from tests.e2e.test_http_journeys import (
    PASSWORD,
    an_admin,
    an_event_on_sale,
    order_body,
    wait_for_status,
)
from tests.e2e.test_run_contract import system_env, wait_for_readyz


def start(env: dict[str, str], folder: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"], env=env, cwd=folder,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def log_lines(log: Path) -> list[dict]:
    """The JSON log lines (the rest of the output is the supervisor's plain text)."""
    text = log.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def receipts_for(mail: Path, order_id: str, seconds: float = 15) -> list[Path]:
    deadline = time.monotonic() + seconds
    while True:
        found = [p for p in mail.glob("*.eml") if order_id in p.read_text(errors="replace")]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def fresh_clone(tmp_path):
    """A working folder with no data yet, and an environment with no server URLs."""
    env = system_env(tmp_path)
    del env["TICKETING_DATA_DIR"]  # the default: .data/ in the working folder
    for name in ("DATABASE_URL", "REDIS_URL", "AMQP_URL", "SMTP_URL"):
        env.pop(name, None)
    env |= {
        "TICKETING_SUPERADMIN_EMAIL": SUPERADMIN_EMAIL,
        "TICKETING_SUPERADMIN_PASSWORD": SUPERADMIN_PASSWORD,
        "TICKETING_LOG_FORMAT": "json",
    }
    folder = tmp_path / "clone"
    folder.mkdir()
    return folder, env


def test_a_purchase_end_to_end_survives_a_restart(fresh_clone):
    folder, env = fresh_clone
    system = RunningSystem(env["TICKETING_PUBLIC_URL"], env)
    log = folder / "run.log"
    process = start(env, folder, log)
    try:
        wait_for_readyz(system.base_url, process)
        output = log.read_text()
        assert "in one process (embedded mode)" in output
        data = folder / ".data"
        for line in (
            f"{system.base_url}/",
            f"{system.base_url}/admin",
            f"{system.base_url}/docs",
            str((data / "mail").resolve()),
        ):
            assert line in wait_for_text(log, line)

        admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        admin = an_admin(system, admin_email)
        event, ticket = an_event_on_sale(system, admin, stock=10)
        request_id = f"purchase-{uuid.uuid4().hex}"
        with system.client() as http:
            placed = http.post(
                "/orders",
                json=order_body(event, ticket, 3),
                headers={"Idempotency-Key": f"key-{uuid.uuid4()}", "X-Request-ID": request_id},
            )
            assert placed.status_code == 201, placed.text
            assert placed.headers["x-request-id"] == request_id
            order = placed.json()
            ref = order["payment"]["payment_ref"]
            paid = http.post(f"/sandbox/payments/{ref}/complete", json={"outcome": "succeeded"})
            assert paid.status_code == 200, paid.text
            assert wait_for_status(http, order, "paid")["status"] == "paid"
        [receipt] = receipts_for(data / "mail", order["id"])
        assert "fan@example.com" in receipt.read_text(errors="replace")
        assert {"users.sqlite3", "tickets.sqlite3", "payments.sqlite3"} <= {
            p.name for p in data.glob("*.sqlite3")
        }
        # The one request id, from the gateway through gRPC to the services it called.
        services = {line["service"] for line in log_lines(log) if line["request_id"] == request_id}
        assert {"gateway", "payments", "tickets"} <= services
        metrics = httpx.get(f"{system.base_url}/metrics").text
        assert 'ticketing_orders_total{change="paid"} 1.0' in metrics
        assert "ticketing_tickets_sold_total 3.0" in metrics

        assert stop(process) == 0
        assert "ticketing: stopped" in log.read_text()

        process = start(env, folder, log)
        wait_for_readyz(system.base_url, process)
        # Ready means the read models were rebuilt from the events: no waiting for them.
        with system.client() as http:
            page = http.get(f"/events/{event['id']}")
            assert page.status_code == 200, page.text
            assert page.json()["title"] == event["title"]
            tickets = http.get(f"/events/{event['id']}/tickets").json()["items"]
            assert [(t["id"], t["remaining"]) for t in tickets] == [(ticket["id"], 7)]
            again = http.get(f"/orders/{order['id']}", params={"token": order["order_token"]})
            assert again.status_code == 200, again.text
            assert (again.json()["status"], again.json()["quantity"]) == ("paid", 3)
        admin_again = system.login(admin_email, PASSWORD)
        with system.client(headers=admin_again) as http:
            mine = http.get("/admin/events")
            assert mine.status_code == 200, mine.text
            assert event["id"] in {item["id"] for item in mine.json()["items"]}
        time.sleep(1)  # the relay polls twice a second: give it the chance to repeat itself
        assert len(receipts_for(data / "mail", order["id"], seconds=0)) == 1
        assert stop(process) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_text(log: Path, text: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while True:
        content = log.read_text(errors="replace")
        if text in content or time.monotonic() > deadline:
            return content
        time.sleep(0.1)


def demo_data(env: dict[str, str], folder: Path) -> dict[str, str]:
    """Run `ticketing demo-data`; the logins it printed, by role."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo-data"], env=env, cwd=folder,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    logins = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) == 4 and words[2] == "password:":
            logins[words[0]] = (words[1], words[3])
    return logins


def test_demo_data_seeds_a_running_system_once(fresh_clone):
    folder, env = fresh_clone
    del env["TICKETING_SUPERADMIN_EMAIL"], env["TICKETING_SUPERADMIN_PASSWORD"]
    system = RunningSystem(env["TICKETING_PUBLIC_URL"], env)
    process = start(env, folder, folder / "run.log")
    try:
        wait_for_readyz(system.base_url, process)
        logins = demo_data(env, folder)
        assert set(logins) == {"superadmin", "admin"}
        root = system.login(*logins["superadmin"])
        admin = system.login(*logins["admin"])
        with system.client(headers=root) as http:
            assert http.get("/auth/me").json()["role"] == "superadmin"
        with system.client(headers=admin) as http:
            mine = wait_for(lambda: http.get("/admin/events").json()["items"], 3)
        assert {item["status"] for item in mine} == {"active"}
        with system.client() as http:
            listed = wait_for(lambda: http.get("/events").json()["items"], 3)
            assert {item["id"] for item in listed} == {item["id"] for item in mine}
            for item in listed:
                tickets = http.get(f"/events/{item['id']}/tickets").json()["items"]
                assert len(tickets) == 2
                assert all(ticket["on_sale"] for ticket in tickets)

        assert demo_data(env, folder) == logins  # again: the same logins, nothing new
        with system.client(headers=admin) as http:
            time.sleep(1)  # what a second run wrote would be projected by now
            assert len(http.get("/admin/events").json()["items"]) == 3
        assert stop(process) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(read, count: int, seconds: float = 10):
    """read()'s items once there are count of them (the read models follow within a second)."""
    deadline = time.monotonic() + seconds
    while True:
        items = read()
        if len(items) >= count or time.monotonic() > deadline:
            assert len(items) == count, items
            return items
        time.sleep(0.1)
