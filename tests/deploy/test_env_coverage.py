"""Every variable the settings read is set in compose and in Kubernetes, or knowingly defaulted.

The list comes from `Settings.model_fields`: a new setting fails these tests until compose and
the manifests set it (or it joins DEFAULTED with its reason).
"""

from __future__ import annotations

from typing import Any

from services.common.settings import Settings
from tests.deploy.artifacts import PROCESSES, base, compose, of_kind

# Left at their defaults in every deployment, and why.
DEFAULTED = {
    "TICKETING_TICKETS_REPLICAS": "unset: one tickets Service address; set it to the pods of a "
    "tickets StatefulSet to route each ticket type to one replica (k8s/README.md)",
    "TICKETING_GATEWAY_WORKERS": "1: in compose and Kubernetes the gateway scales by replicas "
    "(the HPA); several workers behind one port are for one machine (make run, the benchmarks)",
    "TICKETING_AMQP_PREFIX": "empty: the broker (or its vhost) belongs to one installation; "
    "only tests share a broker and need a prefix",
    "TICKETING_STAGE_TRACE": "unset: a diagnostic for bench/stage_trace.py, which sets it on "
    "the system it starts; a deployment marks no stages",
}
# Secrets (and URLs that carry passwords), set only in the processes that read them.
SECRETS = {
    # The gateway reads the event stores for the /audit routes.
    "DATABASE_URL": {"gateway", "users", "tickets", "payments", "sandbox", "notifications",
                     "relay", "projections", "migrate"},
    "REDIS_URL": {"gateway", "query-api", "projections"},
    "AMQP_URL": {"notifications", "relay"},
    "SMTP_URL": {"notifications"},
    "TICKETING_INTERNAL_SECRET": {"gateway", "users", "tickets", "payments", "notifications"},
    "TICKETING_ORDER_TOKEN_SECRET": {"payments", "notifications"},
    "TICKETING_SANDBOX_WEBHOOK_SECRET": {"gateway", "payments", "sandbox"},
    "TICKETING_JWT_PRIVATE_KEY": {"users"},
    "TICKETING_SUPERADMIN_EMAIL": {"migrate"},
    "TICKETING_SUPERADMIN_PASSWORD": {"migrate"},
}  # fmt: skip


def setting_variables() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def test_the_lists_here_name_only_real_settings():
    variables = setting_variables()
    assert "DATABASE_URL" in variables
    assert "TICKETING_TICKETS_ADDR" in variables
    assert set(DEFAULTED) <= variables
    assert set(SECRETS) <= variables


def compose_apps() -> dict[str, set[str]]:
    services = compose()["services"]
    apps = {*PROCESSES, "migrate"}
    return {name: set(services[name].get("environment") or {}) for name in apps}


def test_compose_sets_every_setting_and_each_secret_only_where_it_is_read():
    apps = compose_apps()
    for variable in setting_variables() - set(DEFAULTED):
        setters = {name for name, env in apps.items() if variable in env}
        if variable in SECRETS:
            assert setters == SECRETS[variable] & set(apps), variable
        else:
            assert setters == set(apps), f"{variable} is not set in {set(apps) - setters}"
    for name, env in apps.items():
        unknown = env - setting_variables()
        assert not unknown, f"{name} sets {unknown}, which no setting reads"


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def k8s_workloads() -> dict[str, dict[str, Any]]:
    docs = base()
    workloads = {**of_kind(docs, "Deployment"), **of_kind(docs, "Job")}
    return {w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]: w
            for w in workloads.values()}  # fmt: skip


def test_kubernetes_sets_every_setting_from_the_configmap_or_a_referenced_secret():
    [config] = of_kind(base(), "ConfigMap").values()
    data = set(config["data"])
    workloads = k8s_workloads()
    assert {*PROCESSES, "query-api", "migrate"} == set(workloads)
    references: dict[str, set[str]] = {}
    for name, workload in workloads.items():
        [container] = containers(workload)
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]
        for item in container.get("env", []):
            assert "value" not in item, f"{name} inlines {item['name']}"
            reference = item["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "ticketing-secrets", "key": item["name"]}
            references.setdefault(item["name"], set()).add(name)
    for variable in setting_variables() - set(DEFAULTED):
        if variable in SECRETS:
            assert variable not in data, f"the ConfigMap holds the secret {variable}"
            assert references.get(variable) == SECRETS[variable], variable
        else:
            assert variable in data, f"the ConfigMap does not set {variable}"
    assert not data - setting_variables(), data - setting_variables()
    assert set(references) <= set(SECRETS)


def test_containers_listen_on_every_interface_and_reach_each_other_by_service_name():
    [config] = of_kind(base(), "ConfigMap").values()
    services = set(of_kind(base(), "Service"))
    environments = [config["data"], compose()["services"]["gateway"]["environment"]]
    for environment in environments:
        assert environment["TICKETING_HOST"] == "0.0.0.0"
        assert environment["TICKETING_GRPC_LISTEN_HOST"] == "0.0.0.0"
        assert environment["TICKETING_ENV"] == "production"
        for variable in ("USERS", "TICKETS", "PAYMENTS", "NOTIFICATIONS"):
            host, port = environment[f"TICKETING_{variable}_ADDR"].split(":")
            assert host == variable.lower()
            assert host in services
            assert (
                Settings(ticketing_grpc_listen_host="0.0.0.0").listen_address(
                    environment[f"TICKETING_{variable}_ADDR"]
                )
                == f"0.0.0.0:{port}"
            )
