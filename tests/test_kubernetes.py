"""The Kubernetes manifests (deploy/kubernetes/): every file the kustomization lists, checked
against the Kubernetes API schemas offline (kubernetes-validate, strict: an unknown field or a
value of the wrong type fails), and held to what README promises of them: probes, the
disruption budget, resources, the Secret and the tenants file, Redis, matching ports and
labels, and the configuration a pod starts with."""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from gateway.access.tenants import load_tenants
from gateway.config import load_settings
from gateway.providers.http import HttpSettings
from gateway.settings import DEFAULTS, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes release the manifests are written for (PodDisruptionBudget's
# unhealthyPodEvictionPolicy and topology spread's matchLabelKeys on by default) and the
# newest whose schemas the validator ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (a string the manifests hold, not a bind)

Doc = dict[str, Any]


def kustomization() -> Doc:
    loaded: Doc = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    return loaded


def listed_files() -> list[str]:
    resources: list[str] = kustomization()["resources"]
    return resources


def documents() -> list[Doc]:
    found: list[Doc] = []
    for name in listed_files():
        found.extend(doc for doc in yaml.safe_load_all((FOLDER / name).read_text()) if doc)
    return found


def the(kind: str, name: str) -> Doc:
    (doc,) = (d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)
    return doc


def gateway() -> Doc:
    return the("Deployment", "seal-gateway")


def redis() -> Doc:
    return the("Deployment", "seal-gateway-redis")


def container(deployment: Doc) -> Doc:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def env_of(deployment: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment).get("env", []) if "value" in e}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as these manifests use) picks `labels`."""
    assert set(selector) <= {"matchLabels"}
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def pod_labels(deployment: Doc) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def port_number(deployment: Doc, port: int | str) -> int:
    """A probe's or a Service's port, named or numbered, as the container's port number."""
    ports = container(deployment)["ports"]
    if isinstance(port, int):
        assert port in [p["containerPort"] for p in ports]
        return port
    (number,) = (p["containerPort"] for p in ports if p["name"] == port)
    assert isinstance(number, int)
    return number


def probes(deployment: Doc) -> Iterator[tuple[str, Doc]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container(deployment):
            yield kind, container(deployment)[kind]


# --- the files and their schemas --------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_in_the_folder() -> None:
    on_disk = {p.name for p in FOLDER.iterdir() if p.suffix in (".yaml", ".yml")}
    assert on_disk - {"kustomization.yaml"} == set(listed_files())
    assert len(listed_files()) == len(set(listed_files()))
    assert kustomization()["kind"] == "Kustomization"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(version: str) -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for doc in docs:
        # the schemas of exactly that release were used (the validator falls back otherwise)
        assert kubernetes_validate.validate(doc, version, strict=True) == version


@pytest.mark.parametrize(
    "breakage",
    [
        "an unknown field",
        "a number written as a string",
        "a probe with no handler of a known kind",
    ],
)
def test_the_validator_refuses_a_broken_manifest(breakage: str) -> None:
    broken = copy.deepcopy(gateway())
    if breakage == "an unknown field":
        container(broken)["readinessprobe"] = container(broken).pop("readinessProbe")
    elif breakage == "a number written as a string":
        container(broken)["ports"][0]["containerPort"] = "8000"
    else:
        container(broken)["livenessProbe"] = {"httpGets": {"path": "/healthz", "port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


# --- the gateway ------------------------------------------------------------------------------


def test_three_replicas_that_roll_without_losing_one() -> None:
    spec = gateway()["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert selects(spec["selector"], pod_labels(gateway()))
    assert not selects(spec["selector"], pod_labels(redis()))
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert "kubernetes.io/hostname" in [c["topologyKey"] for c in spread]
    assert all(selects(c["labelSelector"], pod_labels(gateway())) for c in spread)


def test_ready_on_readyz_alive_on_healthz_on_the_served_port() -> None:
    found = dict(probes(gateway()))
    assert found["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert found["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert found["startupProbe"]["httpGet"]["path"] == "/healthz"
    args = container(gateway())["args"]
    served = int(args[args.index("--port") + 1])
    assert args[args.index("--host") + 1] == EVERY_INTERFACE
    for _, probe in probes(gateway()):
        assert port_number(gateway(), probe["httpGet"]["port"]) == served


def test_one_process_per_pod() -> None:
    # left out, --workers starts one process per core of the node, not of the pod's limit
    main = container(gateway())
    args = main["args"]
    assert main["command"] == ["seal-gateway"]
    assert args[0] == "serve"
    assert args[args.index("--workers") + 1] == "1"


def test_the_service_reaches_the_gateway_port() -> None:
    service = the("Service", "seal-gateway")
    assert service["spec"]["selector"] == pod_labels(gateway())
    (port,) = service["spec"]["ports"]
    args = container(gateway())["args"]
    assert port_number(gateway(), port["targetPort"]) == int(args[args.index("--port") + 1])


def test_the_disruption_budget_keeps_two_of_the_gateways() -> None:
    budget = the("PodDisruptionBudget", "seal-gateway")["spec"]
    assert selects(budget["selector"], pod_labels(gateway()))
    assert not selects(budget["selector"], pod_labels(redis()))
    replicas = gateway()["spec"]["replicas"]
    kept = budget.get("minAvailable", replicas - budget.get("maxUnavailable", 0))
    assert 2 <= kept < replicas  # a drain can proceed, one replica at a time
    # readiness follows the vendors: unready pods must not hold a drain up
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize("name", ["seal-gateway", "seal-gateway-redis"])
def test_resources_are_requested_and_limited(name: str) -> None:
    resources = container(the("Deployment", name))["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}


@pytest.mark.parametrize("name", ["seal-gateway", "seal-gateway-redis"])
def test_containers_run_as_a_plain_user_on_a_read_only_root(name: str) -> None:
    pod = the("Deployment", name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    own = container(the("Deployment", name))["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]


def test_the_gateway_runs_as_the_images_user_with_tmp_writable() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"useradd .*--uid (\d+) .*gateway", dockerfile)
    assert uid is not None
    pod = gateway()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid.group(1))
    # GraphiQL's files are baked in and never fetched at start: nothing is written under HOME
    assert "SEALGW_GRAPHIQL_ASSETS=/opt/graphiql" in dockerfile
    assert "SEALGW_GRAPHIQL_FETCH=off" in dockerfile
    mounts = {m["mountPath"]: m["name"] for m in container(gateway())["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_pod_drains_before_it_stops() -> None:
    pod = gateway()["spec"]["template"]["spec"]
    command = container(gateway())["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause >= 5
    # after the pause, a request in flight may still read its body, then spend its deadline
    in_flight = DEFAULTS.body_timeout_s + DEFAULTS.request_deadline_s
    assert pod["terminationGracePeriodSeconds"] >= pause + in_flight


def test_metrics_are_scraped_on_a_port_the_service_does_not_expose() -> None:
    """`/metrics` is not behind the caller gate: off the API's port (SEALGW_METRICS_PORT), on
    one the pods' annotations name for the scraper and the Service leaves out."""
    annotations = gateway()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    scraped = port_number(gateway(), int(annotations["prometheus.io/port"]))
    assert env_of(gateway())["SEALGW_METRICS_PORT"] == str(scraped)
    assert scraped != port_number(gateway(), "http")
    service = the("Service", "seal-gateway")
    exposed = {port_number(gateway(), p["targetPort"]) for p in service["spec"]["ports"]}
    assert scraped not in exposed


# --- its configuration: tenants file, secrets, Redis ------------------------------------------


def test_every_variable_set_is_a_real_setting() -> None:
    known = {spec.variable for spec in SETTINGS.values()}
    for name in env_of(gateway()):
        assert name in known, name


def test_the_tenants_file_is_mounted_where_the_setting_points() -> None:
    path = Path(env_of(gateway())["SEALGW_TENANTS_FILE"])
    pod = gateway()["spec"]["template"]["spec"]
    (mount,) = (
        m for m in container(gateway())["volumeMounts"] if m["mountPath"] == str(path.parent)
    )
    assert mount.get("readOnly") is True
    assert "subPath" not in mount
    (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
    name = volume["configMap"]["name"]
    (item,) = volume["configMap"]["items"]
    assert item["path"] == path.name
    assert item["key"] in the("ConfigMap", name)["data"]


def test_the_secret_holds_what_the_tenants_file_names_and_only_placeholders() -> None:
    (source,) = container(gateway())["envFrom"]
    secret = the("Secret", source["secretRef"]["name"])
    values: dict[str, str] = secret["stringData"]
    assert "data" not in secret
    for value in values.values():
        assert value.startswith("REPLACE-ME")  # no real secret is ever committed here
    tenants = the("ConfigMap", "seal-gateway-tenants")["data"]["tenants.toml"]
    named = set(re.findall(r'\{\s*env\s*=\s*"([A-Z0-9_]+)"\s*\}', tenants))
    assert named == set(values)


def test_a_pod_starts_with_this_configuration(tmp_path: Path) -> None:
    """The environment a gateway pod gets (its variables, the Secret's keys, the mounted
    tenants file) loads, with callers, so that serving on 0.0.0.0 is allowed."""
    environ = dict(env_of(gateway()))
    (source,) = container(gateway())["envFrom"]
    environ.update(the("Secret", source["secretRef"]["name"])["stringData"])
    tenants_file = tmp_path / "tenants.toml"
    tenants_file.write_text(the("ConfigMap", "seal-gateway-tenants")["data"]["tenants.toml"])
    environ["SEALGW_TENANTS_FILE"] = str(tenants_file)
    settings = load_settings(environ)
    assert not settings.sandbox
    assert settings.has_callers
    assert settings.exposure_problem(EVERY_INTERFACE) is None
    assert settings.redis_url == env_of(gateway())["SEALGW_REDIS_URL"]
    (tenant,) = load_tenants(str(tenants_file), environ, HttpSettings())
    assert tenant.vendors.esign is not None
    assert tenant.vendors.yunyin is not None


def test_the_redis_url_names_the_redis_service() -> None:
    url = urlsplit(env_of(gateway())["SEALGW_REDIS_URL"])
    service = the("Service", url.hostname or "")
    (port,) = service["spec"]["ports"]
    assert url.scheme == "redis"
    assert url.port == port["port"]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(redis()))
    assert not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(gateway()))
    assert port_number(redis(), port["targetPort"]) == 6379


def test_redis_keeps_the_event_log_on_disk_and_runs_the_composed_image() -> None:
    compose = yaml.safe_load((ROOT / "docs" / "compose.yaml").read_text())
    main = container(redis())
    assert main["image"] == compose["services"]["redis"]["image"]
    args = main["args"]
    assert args[args.index("--save") + 1] == ""
    # the seal event log's streams: appended to disk every second, as in compose
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "everysec"
    composed = compose["services"]["redis"]["command"]
    assert composed[composed.index("--appendonly") + 1] == "yes"
    assert any(m["mountPath"] == "/data" for m in main["volumeMounts"])
    assert redis()["spec"]["replicas"] == 1
    assert redis()["spec"]["strategy"]["type"] == "Recreate"  # never two servers at once
    kinds = dict(probes(redis()))
    assert shlex.join(kinds["readinessProbe"]["exec"]["command"]) == "redis-cli ping"
    assert "livenessProbe" in kinds


def test_only_the_gateway_reaches_redis() -> None:
    policy = the("NetworkPolicy", "seal-gateway-redis")["spec"]
    assert selects(policy["podSelector"], pod_labels(redis()))
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}
    assert selects(peer["podSelector"], pod_labels(gateway()))
    assert [p["port"] for p in rule["ports"]] == [6379]
