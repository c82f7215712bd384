"""One send per answer: uvicorn's HTTP protocol against `OneWriteHttpToolsProtocol`, in one run.

Two uvicorn servers (uvloop, httptools, one process each, as the gateway and the sandbox run)
answer every request with the same small JSON document, sent as the fast paths send it: a
response start, then the body. One server uses uvicorn's protocol (head and body in two
writes), the other `services/common/http_server.py`'s (one write). wrk drives each in turn at
`--connections`, alternating over `--rounds`; per side the server's CPU per request (user +
system, from /proc), the requests per second and wrk's p99.

    .venv/bin/python bench/response_writes.py                 # 3 rounds x 10 s at 64 connections
    .venv/bin/python bench/response_writes.py --rounds 5 --seconds 5 --connections 16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness

SERVER = """
import sys, uvicorn
from services.common.http_server import OneWriteHttpToolsProtocol
ANSWER = (b'{"id":"0b7c1c4e-8a4f-4b3e-9d0e-1234567890ab","status":"pending","quantity":2,'
          b'"total_amount":"50.00","currency":"EUR","payment":{"payment_ref":"sbx_4f1c2a9b",'
          b'"checkout_url":"http://127.0.0.1:8000/sandbox/checkout/sbx_4f1c2a9b"}}')
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
http = OneWriteHttpToolsProtocol if sys.argv[2] == "one-write" else "httptools"
uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", access_log=False,
            loop="uvloop", http=http)
"""
SIDES = ("uvicorn", "one-write")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}", flush=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-response-writes-"))
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    with ExitStack() as stack:
        servers = {}
        for side in SIDES:
            port = harness.free_port()
            pid = stack.enter_context(
                harness.server_process(
                    [sys.executable, "-c", SERVER, str(port), side],
                    f"http://127.0.0.1:{port}/",
                    logs / f"{side}.log",
                )
            )
            servers[side] = (f"http://127.0.0.1:{port}/", pid)
        for round_number in range(args.rounds):
            for side in SIDES if round_number % 2 == 0 else SIDES[::-1]:
                url, pid = servers[side]
                before = harness.cpu_times({side: pid})[side]
                result = harness.wrk(url, "get.lua", args.connections, args.seconds)
                after = harness.cpu_times({side: pid})[side]
                user, system = (after[0] - before[0], after[1] - before[1])
                per_request = (user + system) / result["requests"] * 1e6
                cpu[side].append(per_request)
                print(
                    f"round {round_number + 1} {side:9s} {per_request:5.1f} µs CPU/request "
                    f"(user {user / result['requests'] * 1e6:4.1f}, system "
                    f"{system / result['requests'] * 1e6:4.1f})  {result['rps']:8,.0f} "
                    f"requests/s  p99 {result['p99_ms']:5.1f} ms  errors {result['errors_total']}",
                    flush=True,
                )
    harness.print_cpu_medians(cpu, "uvicorn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
