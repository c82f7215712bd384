"""docker-compose.yml: valid; every process and server; healthchecks, ordering, secrets."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.artifacts import PROCESSES, ROOT, compose, console_scripts, tool

SERVERS = {"postgres", "redis", "rabbitmq", "mailpit"}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:\?|:-|\?|-)?[^}]*\}")


def test_compose_file_validates_against_the_compose_specification():
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_refuses_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  gateway:\n    image: x\n    depends_on: {users: {condition: up}}\n"
    )
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0


def test_every_process_and_server_runs_with_a_healthcheck():
    services = compose()["services"]
    assert set(PROCESSES) | SERVERS <= set(services)
    assert services["rabbitmq"]["image"].endswith("-management")
    for name in set(PROCESSES) | SERVERS:
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    for name, script in PROCESSES.items():
        assert services[name]["command"][0] == script


def test_every_command_is_a_console_script_of_the_project():
    scripts = console_scripts()
    for name, service in compose()["services"].items():
        command = service.get("command")
        if name in SERVERS or command is None:
            continue
        assert command[0] in scripts, f"{name} runs {command[0]}, which pyproject does not define"
        check = service.get("healthcheck", {}).get("test", [])
        if "ticketing-healthcheck" in check:
            assert "ticketing-healthcheck" in scripts


def test_processes_wait_for_healthy_dependencies_and_the_migration():
    services = compose()["services"]
    for name in PROCESSES:
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends.items():
            if dependency == "migrate":
                assert rule["condition"] == "service_completed_successfully"
            else:
                assert rule["condition"] == "service_healthy", (name, dependency)
                assert services[dependency].get("healthcheck"), dependency
        if name != "gateway":  # the gateway reaches the stores only through the services
            assert {"postgres", "migrate"} <= set(depends), name
    gateway = services["gateway"]["depends_on"]
    assert set(PROCESSES) - {"gateway", "relay", "projections"} <= set(gateway)


def test_data_lives_in_named_volumes():
    document = compose()
    declared = set(document["volumes"])
    for name in ("postgres", "redis", "rabbitmq", "mailpit"):
        mounts = document["services"][name]["volumes"]
        named = {mount.split(":", 1)[0] for mount in mounts}
        assert named, name
        assert named <= declared, name


def test_only_the_gateway_and_the_servers_publish_ports_and_only_on_loopback():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
            assert name in SERVERS | {"gateway"}, name


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def test_secrets_come_from_env_and_the_example_names_each_one_without_a_working_value():
    text = (ROOT / "docker-compose.yml").read_text()
    required = {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] == ":?"}
    example = env_example()
    assert required, "no secret is read from .env"
    assert required <= set(example), required - set(example)
    assert set(example) <= {m["name"] for m in INTERPOLATION.finditer(text)}
    for name, value in example.items():
        if name.endswith("_EMAIL"):
            continue
        # Empty: compose refuses it (:?); CHANGE_ME: the services refuse it (test_migrate.py).
        assert value in {"", "CHANGE_ME"}, f"{name} ships a value that might work"
        if value == "":
            assert name in required
    # No secret is written into the compose file itself.
    for service in compose()["services"].values():
        environment = service.get("environment") or {}
        for name, value in environment.items() if isinstance(environment, dict) else ():
            if name.endswith(("_SECRET", "_PASSWORD", "_KEY", "_PASS")):
                assert str(value).startswith("${"), name


def test_env_files_stay_out_of_git_and_out_of_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
