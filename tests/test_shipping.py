"""What ships beside the code: the Dockerfile's shape (the image itself is built and checked
by `deploy/image/build.sh`, which CI runs), the compose file, and the example tenants file it
mounts, which must load."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.access.tenants import load_tenants
from gateway.providers.http import HttpSettings

ROOT = Path(__file__).resolve().parent.parent


def test_the_dockerfile_builds_in_stages_and_runs_as_a_plain_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1))  # a pinned release
    runtime = text.split("AS runtime", 1)[1]
    assert "USER gateway" in runtime
    assert "HEALTHCHECK" in runtime
    assert "/healthz" in runtime
    assert "npm" not in runtime.replace("graphiql fetch", "")  # no Node.js at run time
    assert "SEALGW_GRAPHIQL_ASSETS=/opt/graphiql" in runtime
    assert "graphiql fetch --dir /opt/graphiql" in text  # baked in at build


def test_the_compose_file_runs_the_gateway_with_redis() -> None:
    compose = yaml.safe_load((ROOT / "docs" / "compose.yaml").read_text())
    gateway, redis = compose["services"]["gateway"], compose["services"]["redis"]
    assert gateway["environment"]["SEALGW_REDIS_URL"] == "redis://redis:6379/0"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-alpine", redis["image"])
    mounted = gateway["volumes"][0].split(":")[0]
    assert (ROOT / "docs" / mounted).is_file()


def test_the_example_tenants_file_loads() -> None:
    environ = {"ACME_ESIGN_SECRET": "s1", "ACME_YUNYIN_SECRET": "s2"}
    (tenant,) = load_tenants(str(ROOT / "docs" / "tenants.example.toml"), environ, HttpSettings())
    assert tenant.name == "acme"
    assert tenant.vendors.esign is not None
    assert tenant.vendors.yunyin is not None
