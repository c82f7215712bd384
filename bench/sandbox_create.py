"""The payment sandbox's POST /sandbox/payments, with the hot path off and on, in one run.

Each side is the sandbox as `ticketing-sandbox` serves it (uvicorn on uvloop and httptools, the
same logging), on PostgreSQL, in a fresh database of its own; `off` builds the app with
hot_creates=False, so every create goes through the FastAPI route and a transaction of its
own, as before the hot path. wrk (`lua/sandbox_payments.lua`) sends every request for a new
order, as the payments service does in a rush, over 32 kept-alive connections (the
service's pool). Printed for each side: requests/s, latency, and the sandbox process's CPU
(from /proc) per created payment.

    .venv/bin/python bench/sandbox_create.py                  # 2 x (1 s warm-up + 9 s)
    .venv/bin/python bench/sandbox_create.py --seconds 5 --connections 64
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import uuid
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from services.common.database import open_database
from services.common.logs import setup_logging
from services.common.settings import Settings
from services.payments.providers.sandbox_app import create_sandbox_app
from services.payments.providers.sandbox_store import SandboxStore

NOWHERE = "http://127.0.0.1:9/nowhere"  # no payment is completed: no webhook is sent


def serve(hot: str, port: int) -> None:
    """The sandbox as sandbox_main.main runs it, with the hot path on or off."""
    settings = Settings()
    setup_logging(settings, "sandbox")
    database = open_database(settings, "sandbox")
    try:
        store = SandboxStore(database)
        app = create_sandbox_app(store, settings, NOWHERE, hot_creates=hot == "on")
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=10)
    finally:
        database.close()


def measure(hot: str, seconds: float, connections: int, folder: Path) -> dict:
    """One side: start its sandbox on a fresh database, warm it up, drive it, read its CPU."""
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    with harness.fresh_database(f"bench_sandbox_{hot}") as database_url:
        os.environ |= {
            "DATABASE_URL": database_url,
            "TICKETING_PUBLIC_URL": base_url,
            "TICKETING_DATA_DIR": str(folder / "data"),
            "TICKETING_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, __file__, "--serve", hot, "--port", str(port)]
        log = folder / f"sandbox-{hot}.log"
        with harness.server_process(command, f"{base_url}/healthz", log) as pid:
            tag = uuid.uuid4().hex[:8]
            harness.wrk(
                base_url, "sandbox_payments.lua", connections, 1, {"BENCH_RUN": f"warm-{tag}"}
            )
            before = harness.cpu_seconds({"sandbox": pid})["sandbox"]
            result = harness.wrk(
                base_url, "sandbox_payments.lua", connections, seconds, {"BENCH_RUN": tag}
            )
            used = harness.cpu_seconds({"sandbox": pid})["sandbox"] - before
    created = result["statuses"].get("201", 0)
    result |= {
        "hot": hot,
        "created": created,
        "other_statuses": {s: n for s, n in result["statuses"].items() if s != "201"},
        "cpu_cores": used / (result["duration_us"] / 1e6),
        "cpu_ms_per_payment": 1000 * used / created if created else float("nan"),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=9.0, help="measured seconds per side")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    print(f"logs in {folder}", flush=True)
    results = [measure(hot, args.seconds, args.connections, folder) for hot in ("off", "on")]
    print(
        f"\n{'hot path':<9}{'req/s':>9}{'201s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'cores':>7}{'CPU ms/payment':>16}  other"
    )
    for r in results:
        other = {**r["other_statuses"], **{k: v for k, v in r["errors"].items() if v}}
        print(
            f"{r['hot']:<9}{r['rps']:>9.0f}{r['created']:>8}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
            f"{r['cpu_cores']:>7.2f}{r['cpu_ms_per_payment']:>16.3f}  {other or ''}"
        )
    off, on = results
    print(
        f"\nhot path on: {on['rps'] / off['rps']:.2f}x the requests/s, "
        f"{on['cpu_ms_per_payment'] / off['cpu_ms_per_payment']:.2f}x the CPU per payment"
    )
    command = [".venv/bin/python", "bench/sandbox_create.py", *sys.argv[1:]]
    print(f"command: {shlex.join(command)}  (in {harness.ROOT})")


if __name__ == "__main__":
    main()
