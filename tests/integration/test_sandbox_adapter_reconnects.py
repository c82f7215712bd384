"""The provider adapter survives the provider closing a kept-alive connection under it."""

from __future__ import annotations

import asyncio
import json

from domain.money import Money
from services.payments.providers.sandbox import SandboxProvider

PAYMENT = {
    "payment_ref": "sbx_1", "status": "pending", "amount": "25.00", "currency": "KES",
    "checkout_url": "http://127.0.0.1/sandbox/checkout/sbx_1", "order_id": "order-1",
}  # fmt: skip


async def test_a_connection_closed_by_the_provider_between_calls_is_replaced():
    connections = 0
    paths: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )  # fmt: skip
        await reader.readexactly(length)
        paths.append(head.split(b" ")[1])
        # create_payment sends a batch of one when it is the only create in flight.
        body = json.dumps({"results": [{"status": 201, "payment": PAYMENT}]}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()  # keep-alive was promised, but the server goes away (a timeout, a restart)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = SandboxProvider(f"http://127.0.0.1:{port}", b"s" * 32)
    try:
        for _ in range(20):  # each call right after the last: the close races the reuse
            payment = await provider.create_payment(
                "order-1", Money.parse("25.00", "KES"), "1 ticket(s)", "a@b.co"
            )
            assert payment.payment_ref == "sbx_1"
        assert connections == 20
        assert paths == [b"/sandbox/payments/batch"] * 20
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()
