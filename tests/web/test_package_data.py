"""Every file the pages need ships in the installed package, not only in a source checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "command_api" / "web"


def test_every_web_file_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["command_api.web"]
    files = [p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()]
    served = [f for f in files if not f.endswith((".py", ".pyc"))]
    assert "static/js/store.js" in served
    shipped = {p.relative_to(WEB).as_posix() for pattern in patterns for p in WEB.glob(pattern)}
    assert sorted(set(served) - shipped) == []
