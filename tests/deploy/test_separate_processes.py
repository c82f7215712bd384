"""The relay and the receipt consumer, each as its own process, as compose and Kubernetes run them.

Real PostgreSQL, RabbitMQ and an SMTP server; the processes are the console scripts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.common.database import open_database
from services.common.settings import Settings
from services.notifications.bus import Names
from services.notifications.relay import RELAY_NAME
from services.notifications.store import NotificationStore
from services.payments.application import Orders
from services.tickets.application import Tickets
from tests.deploy.artifacts import tool
from tests.integration.notifications_helpers import (
    AMQP_URL,
    Harness,
    Shop,
    a_free_port,
    delete_topology,
    eventually,
    ready_messages,
)

SECRET = "order-token-secret-for-the-separate-processes"
INTERNAL = "internal-secret-for-the-separate-processes-test"


@pytest.fixture
async def installation(fresh_database_url, smtp, tmp_path):
    """The environment of one installation, and its stores as the test sees them."""
    harness = Harness(fresh_database_url, smtp, tmp_path)  # for its unique broker prefix
    port = a_free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TICKETING_")} | {
        "DATABASE_URL": fresh_database_url,
        "AMQP_URL": AMQP_URL,
        "SMTP_URL": smtp.url,
        "TICKETING_ENV": "production",
        "TICKETING_AMQP_PREFIX": harness.names.prefix,
        "TICKETING_ORDER_TOKEN_SECRET": SECRET,
        "TICKETING_INTERNAL_SECRET": INTERNAL,
        "TICKETING_RELAY_INTERVAL_SECONDS": "0.1",
        "TICKETING_DATA_DIR": str(tmp_path),
        # A name that resolves nowhere: the server must bind to the listen host instead.
        "TICKETING_NOTIFICATIONS_ADDR": f"notifications.invalid:{port}",
        "TICKETING_GRPC_LISTEN_HOST": "127.0.0.1",
    }
    settings = Settings(database_url=fresh_database_url)
    tickets = Tickets(env=settings.event_store_env("tickets"))
    orders = Orders(env=settings.event_store_env("payments"))
    database = open_database(settings, "notifications")
    store = NotificationStore(database, timedelta(seconds=120))
    store.migrate()
    yield env, Shop(tickets, orders), store, port
    tickets.close()
    orders.close()
    database.close()
    await delete_topology(harness.names)


class Process:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [tool(command[0]), *command[1:]], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    async def stop(self) -> str:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(self.popen.communicate, timeout=30)
        assert self.popen.returncode == 0, output
        return output


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("ticketing-healthcheck"), "grpc", f"127.0.0.1:{port}"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip


async def test_the_relay_and_the_consumer_each_run_alone_and_together_deliver_once(
    installation, smtp
):
    env, shop, store, port = installation
    names = Names(env["TICKETING_AMQP_PREFIX"])
    relay = Process(["ticketing-relay"], env)
    first, _ = await asyncio.to_thread(shop.pay_order, 2, "first@example.com")

    async def queued() -> int:
        try:
            return await ready_messages(names, names.receipts)
        except Exception:  # the relay has not declared the queue yet
            return 0

    # The relay alone publishes the paid order; nobody mails it.
    await eventually(queued, timeout=60)
    assert await queued() == 1
    assert smtp.inbox.messages == []
    assert store.find(str(first)) == []
    assert "relay running" in await relay.stop()
    position = store.relay_position(RELAY_NAME)
    assert position > 0

    # The consumer alone mails what waits in the queue, and relays nothing itself.
    second, _ = await asyncio.to_thread(shop.pay_order, 1, "second@example.com")
    consumer = Process(["ticketing-notifications", "--no-relay"], env)
    [message] = await eventually(lambda: list(smtp.inbox.messages), timeout=60)
    assert message["To"] == "first@example.com"
    assert store.relay_position(RELAY_NAME) == position
    assert store.find(str(second)) == []
    # Its gRPC edge listens on the listen host, and answers the container healthcheck.
    checked = await asyncio.to_thread(healthcheck, port)
    assert checked.returncode == 0, checked.stderr

    # The relay back: the second order goes out too, each exactly once.
    relay = Process(["ticketing-relay"], env)
    await eventually(lambda: len(smtp.inbox.messages) == 2, timeout=60)
    await relay.stop()
    assert "receipt consumer running" in await consumer.stop()
    assert sorted(m["To"] for m in smtp.inbox.messages) == [
        "first@example.com",
        "second@example.com",
    ]
    stopped = await asyncio.to_thread(healthcheck, port)
    assert stopped.returncode == 1
    assert "UNAVAILABLE" in stopped.stderr


@pytest.mark.parametrize(
    "command", [["ticketing-relay"], ["ticketing-notifications", "--no-relay"]]
)
def test_apart_they_refuse_to_start_without_rabbitmq(command, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("TICKETING_")}
    env.pop("AMQP_URL", None)
    env["TICKETING_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [tool(command[0]), *command[1:]], env=env,
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "set AMQP_URL" in result.stderr


def test_listen_address_keeps_the_port_and_changes_only_the_host():
    assert Settings().listen_address("tickets:50052") == "tickets:50052"
    listening = Settings(ticketing_grpc_listen_host="0.0.0.0")
    assert listening.listen_address("tickets:50052") == "0.0.0.0:50052"
    assert listening.listen_address("[::1]:50052") == "0.0.0.0:50052"
    assert Settings(ticketing_grpc_listen_host="::").listen_address("users:1") == "[::]:1"


class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_healthcheck_command_passes_only_on_200():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        ok, unready = (
            subprocess.run(
                [tool("ticketing-healthcheck"), "http", f"{url}{path}"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            for path in ("/readyz", "/other")
        )
    finally:
        server.shutdown()
        server.server_close()
    assert ok.returncode == 0, ok.stderr
    assert unready.returncode == 1
    assert "HTTP 503" in unready.stderr
