"""The Kubernetes manifests: schema-valid offline, probes, limits, autoscaling, isolation."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.artifacts import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    PROCESSES,
    base,
    console_scripts,
    documents,
    kubectl,
    of_kind,
    raw_manifest_files,
    rendered,
    rendered_text,
    tool,
)

GRPC_PORTS = {"users": 50051, "tickets": 50052, "payments": 50053, "notifications": 50054}
EDGE = {"gateway", "query-api"}


def validate(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", raw_manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_raw_manifest_validates_strictly(path):
    docs = documents(path.read_text())
    assert docs
    for document in docs:
        validate(document)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_and_every_document_validates_strictly(overlay, tmp_path):
    docs = rendered(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "Job", "ConfigMap", "Ingress", "Namespace"} <= kinds  # fmt: skip
    assert "Secret" not in kinds, "secrets are referenced, never shipped"
    for document in docs:
        validate(document)
    # The command-line tool too, on the rendered file (what CI or a reviewer would run).
    out = tmp_path / f"{overlay}.yaml"
    out.write_text(rendered_text(overlay))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet",
         "--kubernetes-version", KUBERNETES_VERSION, str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_the_validator_refuses_an_unknown_field_and_an_unknown_kind():
    [deployment] = [d for d in base() if d["metadata"]["name"] == "gateway" and
                    d["kind"] == "Deployment"]  # fmt: skip
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_overlays_differ_where_they_should():
    dev, prod = rendered("dev"), rendered("prod")
    assert {d["metadata"].get("namespace") for d in dev if d["kind"] != "Namespace"} == {
        "ticketing-dev"
    }
    assert {d["metadata"].get("namespace") for d in prod if d["kind"] != "Namespace"} == {
        "ticketing"
    }
    in_cluster = {"postgres", "redis", "rabbitmq"}
    assert in_cluster <= set(of_kind(dev, "StatefulSet"))
    assert not set(of_kind(prod, "StatefulSet"))
    assert not in_cluster & set(of_kind(prod, "Service"))
    assert of_kind(prod, "Ingress")["ticketing"]["spec"]["tls"]
    assert of_kind(prod, "ConfigMap")["ticketing-config"]["data"][
        "TICKETING_PUBLIC_URL"
    ].startswith("https://")
    images = {c["image"] for d in of_kind(prod, "Deployment").values()
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images == {"registry.example.com/ticketing:0.1.0"}


def deployments() -> dict[str, dict[str, Any]]:
    return of_kind(base(), "Deployment")


def container_of(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return container


def test_every_process_has_a_deployment_running_its_console_script():
    scripts = console_scripts()
    assert set(deployments()) == {*PROCESSES, "query-api"}
    for name, deployment in deployments().items():
        command = container_of(deployment)["command"]
        assert command[0] in scripts, (name, command)
        assert command[0] == PROCESSES.get(name, "ticketing-query-api")
    [job] = of_kind(base(), "Job").values()
    assert container_of(job)["command"] == ["ticketing-migrate"]
    assert "ticketing-migrate" in scripts


def test_probes_use_grpc_health_and_the_gateway_readiness_endpoint():
    services = of_kind(base(), "Service")
    for name, deployment in deployments().items():
        container = container_of(deployment)
        assert "livenessProbe" in container, name
        if name in services:  # anything that receives traffic says when it is ready
            assert "readinessProbe" in container, name
        if name in GRPC_PORTS:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["grpc"] == {"port": GRPC_PORTS[name]}, (name, probe)
    gateway = container_of(deployments()["gateway"])
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_every_container_has_requests_and_limits_and_runs_unprivileged():
    workloads = [*deployments().values(), *of_kind(base(), "Job").values()]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_autoscalers_and_disruption_budgets():
    autoscalers = of_kind(base(), "HorizontalPodAutoscaler")
    assert set(autoscalers) == {"gateway", "query-api", "tickets"}
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": name}  # fmt: skip
        assert hpa["spec"]["minReplicas"] >= 2
    budgets = of_kind(base(), "PodDisruptionBudget")
    replicated = {n for n, d in deployments().items() if d["spec"]["replicas"] > 1}
    assert replicated <= set(budgets)
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    # The singletons roll over by stopping first, so two never overlap.
    for name in ("relay", "projections"):
        assert deployments()[name]["spec"]["replicas"] == 1
        assert deployments()[name]["spec"]["strategy"] == {"type": "Recreate"}


def pod_labels(name: str) -> dict[str, str]:
    workloads = {**deployments(), **of_kind(base(), "Job")}
    return workloads[name]["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "these checks only understand matchLabels"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def reachable_from(source: dict[str, Any]) -> set[str]:
    """The processes whose pods accept a connection from a peer described by `source`.

    source: {"namespace": labels of its namespace} or {"pod": labels of a pod here}.
    """
    policies = of_kind(base(), "NetworkPolicy").values()
    reachable = set()
    for name in {*deployments()}:
        labels = pod_labels(name)
        applying = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert applying, f"{name} is not covered by any policy"
        for policy in applying:
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    if "namespaceSelector" in peer and "namespace" in source:
                        matched = selects(peer["namespaceSelector"], source["namespace"])
                    elif "podSelector" in peer and "pod" in source:
                        matched = selects(peer["podSelector"], source["pod"])
                    else:
                        matched = False
                    if matched:
                        reachable.add(name)
    return reachable


def test_network_policies_let_the_ingress_reach_only_the_http_edge():
    ingress_namespace = {"kubernetes.io/metadata.name": "ingress-nginx"}
    assert reachable_from({"namespace": ingress_namespace}) == EDGE
    assert reachable_from({"namespace": {"kubernetes.io/metadata.name": "elsewhere"}}) == set()
    # Each service is reachable by its callers and nobody else in the namespace.
    assert reachable_from({"pod": pod_labels("gateway")}) == {
        "users", "tickets", "payments", "notifications", "sandbox"
    }  # fmt: skip
    assert reachable_from({"pod": pod_labels("payments")}) == {"tickets", "sandbox"}
    assert reachable_from({"pod": pod_labels("sandbox")}) == {"gateway"}  # its webhooks
    assert reachable_from({"pod": pod_labels("query-api")}) == {"users"}
    for worker in ("relay", "projections", "notifications", "users", "tickets"):
        assert reachable_from({"pod": pod_labels(worker)}) == set(), worker
    [deny] = [
        p for p in of_kind(base(), "NetworkPolicy").values() if p["spec"]["podSelector"] == {}
    ]
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]
    backends = {path["backend"]["service"]["name"]
                for rule in of_kind(base(), "Ingress")["ticketing"]["spec"]["rules"]
                for path in rule["http"]["paths"]}  # fmt: skip
    assert backends == EDGE


def test_the_tickets_service_has_a_headless_service_listing_each_replica():
    services = of_kind(base(), "Service")
    assert services["tickets-replicas"]["spec"]["clusterIP"] == "None"
    assert services["tickets-replicas"]["spec"]["selector"] == {"app.kubernetes.io/name": "tickets"}


def test_make_secrets_provides_every_key_the_manifests_reference(tmp_path):
    kubectl()
    result = subprocess.run(
        ["bash", str(K8S / "make-secrets.sh"), "dev", "--print"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    secrets = of_kind(documents(result.stdout), "Secret")
    assert set(secrets) == {"ticketing-infra", "ticketing-secrets"}
    for secret in secrets.values():
        validate(secret)
        assert secret["metadata"]["namespace"] == "ticketing-dev"
    referenced: set[tuple[str, str]] = set()
    for document in rendered("dev"):
        if document["kind"] in {"Deployment", "StatefulSet", "Job"}:
            for container in document["spec"]["template"]["spec"]["containers"]:
                for item in container.get("env", []):
                    if "secretKeyRef" in item.get("valueFrom", {}):
                        ref = item["valueFrom"]["secretKeyRef"]
                        referenced.add((ref["name"], ref["key"]))
    provided = {(name, key) for name, s in secrets.items() for key in s["data"]}
    assert referenced <= provided, referenced - provided
    values = {
        key: base64.b64decode(v).decode() for key, v in secrets["ticketing-secrets"]["data"].items()
    }
    assert values["TICKETING_JWT_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")
    assert len(values["TICKETING_INTERNAL_SECRET"]) >= 32
    infra = secrets["ticketing-infra"]["data"]
    password = base64.b64decode(infra["POSTGRES_PASSWORD"]).decode()
    assert values["DATABASE_URL"] == f"postgresql://ticketing:{password}@postgres:5432/ticketing"
    # Run twice, it makes new values: nothing random is fixed in the script.
    again = subprocess.run(
        ["bash", str(K8S / "make-secrets.sh"), "dev", "--print"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert of_kind(documents(again.stdout), "Secret")["ticketing-infra"]["data"] != infra


def test_make_secrets_for_prod_names_what_is_missing():
    kubectl()
    result = subprocess.run(
        ["bash", str(K8S / "make-secrets.sh"), "prod", "--print"],
        capture_output=True, text=True, check=False, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "set DATABASE_URL" in result.stderr
