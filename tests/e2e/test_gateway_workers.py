"""Several gateway workers on one port: both answer, and /metrics counts for all of them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import forget_read_models, stop_system
from tests.e2e.test_run_contract import system_env, wait_for_readyz

WORKERS = 2


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.MULTILINE):
            found.append(int(status.parent.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def gateway_workers(supervisor: int) -> list[int]:
    """The uvicorn workers under the gateway process the supervisor started."""
    [gateway] = [p for p in children(supervisor) if "command_api.main" in cmdline(p)]
    return [p for p in children(gateway) if "spawn_main" in cmdline(p)]


def counted(metrics: str, route: str) -> float:
    pattern = r"^ticketing_http_requests_total\{([^}]*)\} (\S+)$"
    total = 0.0
    for labels, value in re.findall(pattern, metrics, re.MULTILINE):
        if f'route="{route}"' in labels and 'status="200"' in labels:
            total += float(value)
    return total


def test_two_workers_share_the_port_and_the_metrics(tmp_path, fresh_database_url):
    env = system_env(tmp_path, fresh_database_url) | {"TICKETING_GATEWAY_WORKERS": str(WORKERS)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=env, start_new_session=True
    )
    try:
        wait_for_readyz(env["TICKETING_PUBLIC_URL"], process)
        workers = gateway_workers(process.pid)
        assert len(workers) == WORKERS, workers
        # Each worker writes its samples in a file of its own, named after its pid.
        environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
        [folder] = [
            v.split(b"=", 1)[1] for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
        ]

        requests = 200
        for _ in range(requests):  # a new connection each time: the kernel picks the worker
            with httpx.Client(base_url=env["TICKETING_PUBLIC_URL"], timeout=10) as http:
                assert http.get("/healthz").status_code == 200
        answering = {
            int(m.group(1))
            for f in Path(folder.decode()).glob("counter_*.db")
            if (m := re.match(r"counter_(\d+)\.db", f.name))
        }
        assert set(workers) <= answering, "a worker never answered"
        for _ in range(3):  # whichever worker answers /metrics counts every worker's requests
            metrics = httpx.get(f"{env['TICKETING_PUBLIC_URL']}/metrics", timeout=10).text
            assert counted(metrics, "/healthz") >= requests
    finally:
        stop_system(process)
        forget_read_models(env)
    assert not Path(folder.decode()).exists(), "the workers' metrics folder outlived the gateway"


def test_several_workers_without_redis_are_refused_with_a_reason(tmp_path):
    env = system_env(tmp_path) | {"TICKETING_GATEWAY_WORKERS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", "from command_api.main import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "TICKETING_GATEWAY_WORKERS > 1 needs REDIS_URL" in done.stderr
