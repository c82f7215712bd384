"""What the HTTP benchmarks share: a fresh database, the whole system, wrk, py-spy.

The system starts exactly as `make run` starts it (`ticketing run`, here as
`python -m services.cli run`) on the real servers — PostgreSQL, Redis, RabbitMQ — in a
database, a Redis namespace and a RabbitMQ prefix of its own, on free ports (the e2e tests'
`system_env`). Load comes from wrk with a Lua script whose `done()` prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.notifications.bus import Names  # noqa: E402 (after the path is set)
from tests.e2e.conftest import forget_read_models  # noqa: E402
from tests.e2e.test_run_contract import a_free_port, system_env, wait_for_readyz  # noqa: E402

LUA = ROOT / "bench" / "lua"
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SUPERADMIN = ("root@example.com", "correct horse battery staple")


# -- databases ----------------------------------------------------------------------------------


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards."""
    parts = urlsplit(SERVER_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# -- the system ---------------------------------------------------------------------------------


@dataclass
class System:
    """A running `ticketing run` and what the benchmarks need to drive it."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path
    token: str = ""
    events: list[dict] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def children(self) -> dict[str, int]:
        """The supervisor's processes by name (gateway, tickets, payments, …): their pids."""
        names = {
            "command_api.main": "gateway", "services.tickets.server": "tickets",
            "services.payments.server": "payments", "services.users.server": "users",
            "services.payments.providers.sandbox_main": "sandbox",
            "services.notifications.main": "notifications", "projections.runner": "projections",
        }  # fmt: skip
        found = {}
        for pid in child_pids(self.process.pid):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for module, name in names.items():
                if f"from {module} import" in command:
                    found[name] = pid
        return found

    def event_on_sale(self, stock: int, price: str = "25.00") -> tuple[dict, dict]:
        """A new active event with one ticket type of `stock` tickets on sale now."""
        now = datetime.now(UTC)
        with httpx.Client(base_url=self.base_url, headers=self.auth, timeout=30) as http:
            event = http.post("/admin/events", json={
                "title": f"Flash sale {uuid.uuid4().hex[:6]}", "description": "bench",
                "location": "Nairobi", "date_time": (now + timedelta(days=30)).isoformat(),
            })  # fmt: skip
            event.raise_for_status()
            ticket = http.post(f"/admin/events/{event.json()['id']}/tickets", json={
                "category": "GA", "price": price, "currency": "KES", "total_stock": stock,
                "sales_start": (now - timedelta(hours=1)).isoformat(),
                "sales_end": (now + timedelta(days=1)).isoformat(),
            })  # fmt: skip
            ticket.raise_for_status()
            active = http.post(
                f"/admin/events/{event.json()['id']}/status", json={"status": "active"}
            )
            active.raise_for_status()
        return event.json(), ticket.json()


def child_pids(pid: int) -> list[int]:
    """Every descendant of pid (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextmanager
def running_system(
    database_url: str, extra_env: dict[str, str] | None = None, root: Path = ROOT
) -> Iterator[System]:
    """`ticketing run` on PostgreSQL, Redis and RabbitMQ; stopped (SIGTERM) and cleaned after.

    `root` is the checkout whose code runs (another revision's worktree, for a baseline)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-system-"))
    env = system_env(folder, database_url)
    env |= {
        "AMQP_URL": AMQP_URL,
        "TICKETING_AMQP_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "TICKETING_SUPERADMIN_EMAIL": SUPERADMIN[0],
        "TICKETING_SUPERADMIN_PASSWORD": SUPERADMIN[1],
    }
    # The gateway's workers as `make run` has them (one) unless asked otherwise, e.g.
    # --env TICKETING_GATEWAY_WORKERS=2. One worker did the rush on a fifth less CPU per
    # order than two, and serves browsing faster than the bare peer (bench/RESULTS.md).
    env |= extra_env or {}
    print(f"gateway workers: {env.get('TICKETING_GATEWAY_WORKERS', 1)}", flush=True)
    log = Path(tempfile.mkdtemp(prefix="bench-logs-")) / "system.log"  # kept after the run
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(interpreter(root)), "-m", "services.cli", "run"], env=env, cwd=root,
            start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    system = System(env["TICKETING_PUBLIC_URL"], env, process, log)
    try:
        wait_for_readyz(system.base_url, process, seconds=120)
        answer = httpx.post(
            f"{system.base_url}/auth/login",
            json={"email": SUPERADMIN[0], "password": SUPERADMIN[1]},
            timeout=30,
        )
        answer.raise_for_status()
        system.token = answer.json()["access_token"]
        yield system
    finally:
        stop_group(process)
        forget_read_models(env)
        asyncio.run(delete_amqp_topology(env["TICKETING_AMQP_PREFIX"]))
        shutil.rmtree(folder, ignore_errors=True)


def interpreter(root: Path) -> Path:
    """The checkout's own .venv interpreter if it has one, else this one."""
    own = root / ".venv" / "bin" / "python"
    return own if own.exists() else Path(sys.executable)


async def delete_amqp_topology(prefix: str) -> None:
    """Remove the exchanges and queues this system declared on the shared RabbitMQ."""
    names = Names(prefix)
    with suppress(Exception):
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for queue in (names.receipts, names.dead):
                with suppress(Exception):
                    await channel.queue_delete(queue)
            for exchange in (names.exchange, names.dead_exchange):
                with suppress(Exception):
                    await channel.exchange_delete(exchange)


def stop_group(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM the process group this benchmark started; SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def server_process(command: list[str], health_url: str, log: Path) -> Iterator[int]:
    """Start a server in its own process group and wait until health_url answers 200."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, start_new_session=True, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited: {log.read_text()[-2000:]}")
            with suppress(httpx.TransportError):
                if httpx.get(health_url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{health_url} never answered")
            time.sleep(0.2)
        yield process.pid
    finally:
        stop_group(process, grace=10)


# -- load ---------------------------------------------------------------------------------------


def wrk(
    url: str,
    script: str,
    connections: int,
    seconds: float,
    env: dict[str, str] | None = None,
    threads: int = 2,
) -> dict:
    """Run wrk with one of bench/lua's scripts; its done() JSON, plus requests per second."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s",
        "-s", str(LUA / script), url,
    ]  # fmt: skip
    done = subprocess.run(
        command, env=os.environ | (env or {}), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    seconds_taken = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds_taken
    result["p50_ms"] = result["latency_us"]["p50"] / 1000
    result["p99_ms"] = result["latency_us"]["p99"] / 1000
    result["errors_total"] = sum(result["errors"].values())
    return result


@contextmanager
def profiling(pids: dict[str, int], folder: Path, seconds: float) -> Iterator[None]:
    """py-spy record each named process for `seconds` (speedscope + a flat top list)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit(f"py-spy is missing: {sys.executable} -m pip install py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(pid),
                "--nonblocking",
                "--subprocesses",  # a gateway with several workers is their parent
                *os.environ.get("BENCH_PY_SPY_ARGS", "").split(),
                "--duration",
                str(int(seconds)),
                "--format",
                "raw",
                "--output",
                str(folder / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            try:
                recorder.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()


def cpu_times(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """User and system CPU time each process, its threads and its live children (a gateway's
    workers) have used so far; under "postgres", every PostgreSQL server process's."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[str, list[str]]] = {}  # pid -> (command name, fields after it)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            stats[int(stat.parent.name)] = (name, text.rsplit(")", 1)[1].split())
    children: dict[int, list[int]] = {}
    for pid, (_, fields) in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)

    def used_by(pid: int) -> tuple[float, float]:
        fields = stats[pid][1] if pid in stats else None
        user, system = (int(fields[11]) / tick, int(fields[12]) / tick) if fields else (0.0, 0.0)
        for child in children.get(pid, []):
            child_user, child_system = used_by(child)
            user, system = user + child_user, system + child_system
        return user, system

    found = {name: used_by(pid) for name, pid in pids.items() if pid in stats}
    postgres = [fields for name, fields in stats.values() if name.startswith("postgres")]
    found["postgres"] = (
        sum(int(fields[11]) for fields in postgres) / tick,
        sum(int(fields[12]) for fields in postgres) / tick,
    )
    return found


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time each process, its threads and its live children have used."""
    times = cpu_times(pids)
    return {name: sum(times[name]) for name in pids if name in times}


def top_frames(raw: Path, count: int = 15) -> list[tuple[float, str]]:
    """From py-spy's raw (collapsed stacks) output: the functions with most self time, in %."""
    totals: dict[str, int] = {}
    everything = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        totals[leaf] = totals.get(leaf, 0) + int(samples)
        everything += int(samples)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return [(100 * samples / max(everything, 1), frame) for frame, samples in ranked]


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A temporary git worktree of `revision` (a baseline's code to run), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "-q", str(folder), revision], check=True)
    try:
        yield folder
    finally:
        subprocess.run([*git, "remove", "--force", str(folder)], check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)


# A side starts once the machine is this quiet: the side before it (its database's writes,
# the projections catching up) must not run into its measurement.
QUIET_BUSY_SHARE = 0.15
QUIET_WINDOW_SECONDS = 0.5
QUIET_TIMEOUT_SECONDS = 30.0


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of all cores busy between two readings of `cpu_ticks`."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return busy / total if total > 0 else 0.0


def cpu_ticks() -> tuple[int, int]:
    """All cores' busy and total clock ticks so far (/proc/stat; idle and I/O wait are idle)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:7])  # steal (the host's) is not this machine's; guest is in user
    return total - idle, total


def wait_until_quiet(
    busy_below: float = QUIET_BUSY_SHARE,
    window: float = QUIET_WINDOW_SECONDS,
    timeout: float = QUIET_TIMEOUT_SECONDS,
) -> tuple[float, float]:
    """Wait until a window in which less than busy_below of the machine's CPU was busy.

    Returns (seconds waited, the last window's busy share); gives up after timeout, so a
    machine that never quiets (someone else's load) delays a run but does not stop it.
    """
    started = time.monotonic()
    while True:
        before = cpu_ticks()
        time.sleep(window)
        share = busy_share(before, cpu_ticks())
        waited = time.monotonic() - started
        if share < busy_below or waited >= timeout:
            return waited, share


def settle(pause: float) -> None:
    """Between two measured loads: the pause, then until the machine is quiet (said if not)."""
    time.sleep(pause)
    waited, share = wait_until_quiet()
    if share >= QUIET_BUSY_SHARE:
        print(f"  (the machine stayed {share:.0%} busy for {waited:.0f} s; measuring anyway)")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def print_cpu_medians(cpu: dict[str, list[float]], base: str) -> None:
    """Each side's median µs of CPU per request over its rounds, and its ratio to base's."""
    base_median = median(cpu[base])
    for side, values in cpu.items():
        side_median = median(values)
        print(
            f"{side}: median {side_median:.1f} µs CPU/request "
            f"({side_median / base_median:.2f} x {base}'s)"
        )


def free_port() -> int:
    return a_free_port()
