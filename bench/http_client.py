"""The provider call's HTTP client alone: CPU per request, services/common/http1.py against
httpx (and aiohttp, when it is installed), in one run.

A uvicorn server (uvloop, httptools, as the sandbox runs) in its own process answers every
POST with a payment document the size of the sandbox's. The client process sends requests
shaped like the payments service's create_payment, `--concurrency` at a time over kept-alive
connections (the adapter's pool of 32), and prints its own CPU time per request, so the
server's share is left out. Clients alternate over `--rounds`.

    .venv/bin/python bench/http_client.py                 # 3 rounds x 20,000 requests
    .venv/bin/python bench/http_client.py --requests 5000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from services.common.http1 import Http1Pool

BODY = orjson.dumps(
    {
        "order_id": "0b7c1c4e-8a4f-4b3e-9d0e-1234567890ab",
        "amount": "25.00",
        "currency": "EUR",
        "description": "2 x General admission",
        "email": "buyer@example.com",
    }
)
POOL = 32

SERVER = """
import sys, uvicorn
ANSWER = (b'{"payment_ref":"sbx_4f1c2a9b8e7d6c5b","status":"pending","amount":"25.00",'
          b'"currency":"EUR","order_id":"0b7c1c4e-8a4f-4b3e-9d0e-1234567890ab",'
          b'"checkout_url":"http://127.0.0.1:8000/sandbox/checkout/sbx_4f1c2a9b8e7d6c5b"}')
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})
uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", access_log=False,
            loop="uvloop", http="httptools")
"""

Send = Callable[[], Awaitable[int]]


async def lean(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    pool = Http1Pool(url, limit=POOL, keepalive=2.0)

    async def send() -> int:
        status, _ = await pool.request("POST", "/sandbox/payments", BODY, b"application/json")
        return status

    return send, pool.aclose


async def httpx_client(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(
        base_url=url, limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    )

    async def send() -> int:
        answer = await client.post(
            "/sandbox/payments", content=BODY, headers={"content-type": "application/json"}
        )
        return answer.status_code

    return send, client.aclose


async def aiohttp_client(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import aiohttp  # noqa: PLC0415 (optional: no longer a dependency)

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL, keepalive_timeout=2.0),
        timeout=aiohttp.ClientTimeout(total=10),
    )

    async def send() -> int:
        async with session.post(
            url + "/sandbox/payments", data=BODY, headers={"Content-Type": "application/json"}
        ) as answer:
            await answer.read()
            return answer.status

    return send, session.close


async def measure(make, url: str, requests: int, concurrency: int) -> tuple[float, float]:
    send, close = await make(url)
    try:
        for _ in range(200):  # warm-up: connections open, code paths hot
            assert await send() == 201

        async def worker(count: int) -> None:
            for _ in range(count):
                if await send() != 201:
                    raise RuntimeError("the server refused a request")

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = requests // concurrency * concurrency
        return cpu / done * 1e6, done / wall
    finally:
        await close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}", flush=True)
    clients = {"http1": lean, "httpx": httpx_client}
    try:
        import aiohttp  # noqa: F401, PLC0415

        clients["aiohttp"] = aiohttp_client
    except ImportError:
        print("aiohttp is not installed: measuring http1 and httpx only")
    port = harness.free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-http-client-")) / "server.log"
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    with harness.server_process(
        [sys.executable, "-c", SERVER, str(port)], f"http://127.0.0.1:{port}/healthz", log
    ):
        url = f"http://127.0.0.1:{port}"
        for round_number in range(args.rounds):
            names = list(clients) if round_number % 2 == 0 else list(clients)[::-1]
            for name in names:
                micros, rate = uvloop.run(
                    measure(clients[name], url, args.requests, args.concurrency)
                )
                cpu[name].append(micros)
                print(f"round {round_number + 1} {name:8s} {micros:6.1f} µs CPU/request  "
                      f"{rate:8,.0f} requests/s", flush=True)  # fmt: skip
    harness.print_cpu_medians(cpu, "http1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
