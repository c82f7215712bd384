"""`ticketing run`: the whole system, in one process (embedded) or one process per service.

With none of DATABASE_URL, REDIS_URL, AMQP_URL and SMTP_URL set, everything runs in this one
process (services/embedded.py): the in-memory read models and queue must be shared. With any
of them set, each service is its own OS process, as in a deployment; the adapters whose URL is
unset are still the embedded ones (SQLite files, fakeredis inside the gateway, the in-process
queue inside the notifications process, .eml files).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx

from services import embedded
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings


# Each process is a console entry point of this project, run with the same interpreter.
def _entry(module: str) -> list[str]:
    return [sys.executable, "-c", f"from {module} import main; main()"]


PROCESSES: dict[str, list[str]] = {
    "users": _entry("services.users.server"),
    "tickets": _entry("services.tickets.server"),
    "payments": _entry("services.payments.server"),
    "sandbox": _entry("services.payments.providers.sandbox_main"),
    "notifications": _entry("services.notifications.main"),
    "gateway": _entry("command_api.main"),
}
# Stopped front to back: nothing new comes in while what is in flight finishes downstream.
STOP_ORDER = ["gateway", "payments", "sandbox", "tickets", "users", "notifications", "projections"]
# With TICKETING_METRICS_PORT=P, the process named here serves /metrics on P + its offset
# (the gateway serves its own /metrics on $PORT).
METRICS_PORT_OFFSETS = {
    "users": 0,
    "tickets": 1,
    "payments": 2,
    "sandbox": 3,
    "notifications": 4,
    "projections": 5,
}
STOP_GRACE_SECONDS = 15
# Scheduling priority (nice) given to a process where this machine allows it (root or
# CAP_SYS_NICE). In a rush every process competes for the cores; the projections' work is
# small but late work is stale availability: at nice 0 their lag p99 was ~180 ms, at -5
# ~50 ms, with the same holds/s (bench/RESULTS.md). In Kubernetes, CPU requests do this.
NICENESS = {"projections": -5}
PR_SET_PDEATHSIG = 1


def is_embedded(settings: Settings) -> bool:
    """No server URL at all: the whole system in this one process."""
    urls = (settings.database_url, settings.redis_url, settings.amqp_url, settings.smtp_url)
    return not any(urls)


def processes(settings: Settings) -> dict[str, list[str]]:
    """The processes to run: projections on their own only when Redis is a server."""
    chosen = dict(PROCESSES)
    if settings.redis_url:
        chosen["projections"] = _entry("projections.runner")
    return chosen


def run(settings: Settings) -> int:
    """Run the system in the mode its settings call for, until SIGTERM or SIGINT."""
    if is_embedded(settings):
        setup_logging(settings, "ticketing")
        serve_metrics(settings)  # besides the gateway's /metrics, which has the same registry
        return run_embedded(settings)
    return supervise(processes(settings), settings)


def run_embedded(settings: Settings) -> int:
    """Every service in this process; 0 after a graceful stop."""
    names = ", ".join(name for name, _ in embedded.starters(settings))
    print(f"ticketing: starting {names} in one process (embedded mode)", flush=True)

    async def main() -> None:
        async def announce() -> None:
            await wait_until_ready(settings)
            print(announcement(settings), flush=True)

        announcing: list[asyncio.Task[None]] = []
        await embedded.serve(settings, lambda: announcing.append(asyncio.create_task(announce())))
        for task in announcing:
            task.cancel()

    asyncio.run(main())
    print("ticketing: stopped", flush=True)
    return 0


def supervise(processes: dict[str, list[str]], settings: Settings | None = None) -> int:
    """Run the processes until SIGTERM/SIGINT (exit 0) or until one exits (its status)."""
    settings = settings or Settings()
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    children = {
        name: start_child(command, child_env(name, settings)) for name, command in processes.items()
    }
    for name, niceness in NICENESS.items():
        if name in children:
            prioritise(name, children[name].pid, niceness)
    print(f"ticketing: started {', '.join(children)}", flush=True)
    status = 0
    announced = False
    while not stopping:
        exited = {name: child.poll() for name, child in children.items()}
        dead = {name: code for name, code in exited.items() if code is not None}
        if dead:
            name, status = next(iter(dead.items()))
            print(f"ticketing: {name} exited with status {status}; stopping", flush=True)
            status = status or 1
            break
        if not announced and is_ready(settings):
            print(announcement(settings), flush=True)
            announced = True
        time.sleep(0.2)
    stop(children)
    return status


def start_child(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a child in its own process group, so that a terminal's Ctrl-C or a SIGTERM to
    our group reaches only us and we stop the children in order; if we die, they get SIGTERM."""
    # preexec_fn is safe here: the supervisor starts no threads.
    return subprocess.Popen(  # noqa: S603
        command,
        env=env,
        process_group=0,
        preexec_fn=_terminate_with_parent,  # noqa: PLW1509
    )


def prioritise(name: str, pid: int, niceness: int) -> bool:
    """Give a child a scheduling priority; say so (and go on) where that is not allowed."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError as error:
        print(f"ticketing: {name} keeps the default priority ({error.strerror})", flush=True)
        return False
    return True


def _terminate_with_parent() -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def child_env(name: str, settings: Settings) -> dict[str, str]:
    """The environment of one child: ours, with its own metrics port if metrics are on."""
    env = dict(os.environ)
    if settings.ticketing_metrics_port is not None:
        if name in METRICS_PORT_OFFSETS:
            env["TICKETING_METRICS_PORT"] = str(
                settings.ticketing_metrics_port + METRICS_PORT_OFFSETS[name]
            )
        else:
            env.pop("TICKETING_METRICS_PORT", None)
    return env


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child in STOP_ORDER and wait for it to finish its in-flight work."""
    order = sorted(children, key=lambda name: STOP_ORDER.index(name) if name in STOP_ORDER else 99)
    for name in order:
        child = children[name]
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"ticketing: {name} did not stop in time; killing it", flush=True)
            child.kill()
            child.wait()
    print("ticketing: stopped", flush=True)


def local_url(settings: Settings) -> str:
    """Where this machine reaches the gateway."""
    host = settings.ticketing_host
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (a bind address, read here, not bound)
        host = "127.0.0.1"
    return f"http://{host}:{settings.port}"


def is_ready(settings: Settings) -> bool:
    """Whether the gateway answers /readyz with 200."""
    try:
        answer = httpx.get(f"{local_url(settings)}/readyz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


async def wait_until_ready(settings: Settings) -> None:
    """Return once the gateway answers /readyz with 200."""
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            try:
                answer = await client.get(f"{local_url(settings)}/readyz")
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


def announcement(settings: Settings) -> str:
    """Where to find the system, printed once it is ready."""
    base = settings.ticketing_public_url.rstrip("/")
    if settings.smtp_url:
        parts = urlsplit(settings.smtp_url)
        mail = f"sent through SMTP at {parts.hostname}:{parts.port or 25}"
    else:
        mail = str(Path(settings.ticketing_data_dir, "mail").resolve())
    lines = [
        ("storefront", f"{base}/"),
        ("dashboard", f"{base}/admin"),
        ("API docs", f"{base}/docs"),
        ("mail", mail),
        ("metrics", f"{base}/metrics"),
    ]
    body = "\n".join(f"  {label:<11} {value}" for label, value in lines)
    return f"ticketing: ready\n{body}"
