"""Start the system's processes, and stop them all when told to or when one dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from services.common.settings import Settings


# Each process is a console entry point of this project, run with the same interpreter.
def _entry(module: str) -> list[str]:
    return [sys.executable, "-c", f"from {module} import main; main()"]


def processes(settings: Settings) -> dict[str, list[str]]:
    """The processes to run: projections on their own only when Redis is a server."""
    chosen = dict(PROCESSES)
    if settings.redis_url:
        chosen["projections"] = _entry("projections.runner")
    return chosen


PROCESSES: dict[str, list[str]] = {
    "users": _entry("services.users.server"),
    "tickets": _entry("services.tickets.server"),
    "payments": _entry("services.payments.server"),
    "sandbox": _entry("services.payments.providers.sandbox_main"),
    "notifications": _entry("services.notifications.main"),
    "gateway": _entry("command_api.main"),
}
STOP_GRACE_SECONDS = 15


def supervise(processes: dict[str, list[str]]) -> int:
    """Run the processes until SIGTERM/SIGINT (exit 0) or until one exits (its status)."""
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    children = {name: subprocess.Popen(command) for name, command in processes.items()}  # noqa: S603
    print(f"ticketing: started {', '.join(children)}", flush=True)
    status = 0
    while not stopping:
        exited = {name: child.poll() for name, child in children.items()}
        dead = {name: code for name, code in exited.items() if code is not None}
        if dead:
            name, status = next(iter(dead.items()))
            print(f"ticketing: {name} exited with status {status}; stopping", flush=True)
            status = status or 1
            break
        time.sleep(0.2)
    stop(children)
    return status


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, wait for them to finish in-flight work, then kill stragglers."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    print("ticketing: stopped", flush=True)
