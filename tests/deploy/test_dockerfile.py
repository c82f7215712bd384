"""The Dockerfile, read as text (no Docker engine here): stages, user, contents, commands.

What the image would hold is checked by building the same wheel its builder stage installs.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.deploy.artifacts import ROOT, base, compose, console_scripts, of_kind, pyproject

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|apt-get|apk|pip install)\b")


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), grouped by FROM."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    groups: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            groups.append([])
        if groups:
            groups[-1].append(line)
    return groups


def instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) + 1 :].strip() for line in stage if line.upper().startswith(keyword)]


def test_the_image_is_built_in_stages_from_python_slim():
    groups = stages()
    assert len(groups) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in (ROOT / "Dockerfile").read_text()
    builder, final = groups[0], groups[-1]
    assert builder[0].endswith("AS builder")
    assert any("pip install --no-deps ." in line for line in builder), "a non-editable install"
    assert not any("-e " in line or "--editable" in line for line in builder)
    copies = instructions(final, "COPY")
    assert copies == ["--from=builder /opt/venv /opt/venv"], "the final stage takes only the venv"


def test_the_final_stage_has_no_build_tools_and_runs_as_an_unprivileged_user():
    final = stages()[-1]
    for line in final:
        if line.upper().startswith("RUN"):
            assert not BUILD_TOOLS.search(line), line
    [user] = instructions(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric uid, which runAsNonRoot can check"
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0
    [useradd] = [line for line in final if "useradd" in line]
    assert f"--uid {uid}" in useradd
    # USER comes after everything that needs root.
    assert final.index(next(line for line in final if line.startswith("USER"))) > final.index(
        next(line for line in final if "useradd" in line)
    )
    pod_user = {d["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
                for d in of_kind(base(), "Deployment").values()}  # fmt: skip
    assert pod_user == {int(uid)}


def test_the_default_command_and_every_deployment_command_are_console_scripts():
    scripts = console_scripts()
    [cmd] = instructions(stages()[-1], "CMD")
    assert cmd.startswith('["')
    assert cmd.strip("[]").split(",")[0].strip('"') in scripts
    commands = [s["command"][0] for s in compose()["services"].values() if "command" in s]
    commands += [c["command"][0] for d in (*of_kind(base(), "Deployment").values(),
                 *of_kind(base(), "Job").values())
                 for c in d["spec"]["template"]["spec"]["containers"]]  # fmt: skip
    project = {c for c in commands if c.startswith("ticketing")}
    assert project, "no command runs the project"
    assert project <= scripts, project - scripts


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.split("/", maxsplit=1)[0] == p for p in patterns)


def test_the_build_context_holds_what_the_builder_copies_and_no_secrets_or_venv():
    builder = stages()[0]
    copied = [line.split()[0] for line in instructions(builder, "COPY")]
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not ignored(path), f"{path} is copied but .dockerignore leaves it out"
    packages = {
        p.rstrip("*") for p in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= set(copied), packages - set(copied)
    for private in (".env", ".venv", ".data", ".git", "tests"):
        assert ignored(private), private


def test_a_non_editable_install_holds_every_module_and_every_console_script(tmp_path):
    """The builder's `pip install .`: a wheel of the files the Dockerfile copies, only those."""
    context = tmp_path / "context"
    context.mkdir()
    for line in instructions(stages()[0], "COPY"):
        *sources, _ = line.split()
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, context / source,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
            else:
                shutil.copy(origin, context / source)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [wheel] = (tmp_path / "dist").glob("ticketing-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    packages = {
        p.rstrip("*") for p in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    modules = {path for path in tracked if Path(path).parts[0] in packages}
    assert modules, "no module found to check"
    assert modules <= names, sorted(modules - names)
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    listed = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in console_scripts():
        assert f"\n{script} = " in listed, script
