"""Reading the deployment artifacts: compose, the k8s manifests (raw and rendered), pyproject.

Named without test_ so pytest does not collect it; the tests in this folder share it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
# A version whose schemas kubernetes-validate bundles; native gRPC probes are GA since 1.27.
KUBERNETES_VERSION = "1.32.0"

# The application's processes, each the container command's console script.
PROCESSES = {
    "gateway": "ticketing-gateway",
    "users": "ticketing-users",
    "tickets": "ticketing-tickets",
    "payments": "ticketing-payments",
    "sandbox": "ticketing-sandbox",
    "projections": "ticketing-projections",
    "relay": "ticketing-relay",
    "notifications": "ticketing-notifications",
}


def tool(name: str) -> str:
    """A command-line tool of the project's venv (dev extras), else from PATH."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} is missing: install the dev extras (make .venv/.installed-stamp)"
    return found


def kubectl() -> str:
    """kubectl, or skip on a developer machine without it; CI (CI=true) has it and must use it."""
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing on CI: the overlays must be rendered there")
        pytest.skip("kubectl is not installed: the overlays are not rendered")
    return found


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@functools.cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def console_scripts() -> set[str]:
    return set(pyproject()["project"]["scripts"])


def raw_manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@functools.cache
def base() -> list[dict[str, Any]]:
    """Every resource of k8s/base, as written."""
    files = sorted((K8S / "base").glob("*.yaml"))
    return [d for f in files if f.name != "kustomization.yaml" for d in documents(f.read_text())]


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@functools.cache
def rendered_text(overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def rendered(overlay: str) -> list[dict[str, Any]]:
    return documents(rendered_text(overlay))


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def env_names(environment: Any) -> set[str]:
    """The variable names of a compose `environment:` (a mapping or a list of NAME=value)."""
    if isinstance(environment, dict):
        return set(environment)
    return {re.split("=", item, maxsplit=1)[0] for item in environment or []}
