"""/healthz and /readyz: readiness from background checks of each vendor (credentials accepted,
reachable), answered from the cached result, so that probing it calls no vendor."""

from __future__ import annotations

import time
from typing import Any

from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from tests.conftest import Gateway, StartGateway


def ready_when(gateway: Gateway, wanted: int) -> tuple[int, dict[str, Any]]:
    """/readyz once the background check has run (it answers 503 "not checked yet" before)."""
    for _ in range(100):
        response = gateway.client.get(f"{gateway.url}/readyz")
        body: dict[str, Any] = response.json()
        if response.status_code == wanted and all(v["checkedAt"] for v in body["vendors"].values()):
            return response.status_code, body
        time.sleep(0.05)
    return response.status_code, body


def test_ready_when_every_vendor_accepts_the_gateway(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_READY_INTERVAL="600")
    status, body = ready_when(gateway, 200)
    assert status == 200
    assert body["status"] == "ready"
    assert body["vendors"]["default/esign"]["ready"] is True
    assert body["vendors"]["default/yunyin"]["breaker"] == "closed"
    calls = sandbox.count("esign") + sandbox.count("yunyin")
    for _ in range(20):  # a load balancer polling: no vendor call per probe
        assert gateway.client.get(f"{gateway.url}/readyz").status_code == 200
    assert sandbox.count("esign") + sandbox.count("yunyin") == calls


def test_one_vendor_down_leaves_the_process_ready_and_names_it_degraded(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """A pod that still serves e签宝's seals stays in service while 云银签 refuses it."""
    gateway = start_gateway(SEALGW_READY_INTERVAL="600", SEALGW_YUNYIN_APP_SECRET="wrong")
    status, body = ready_when(gateway, 200)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["degraded"] == ["default/yunyin"]
    yunyin = body["vendors"]["default/yunyin"]
    assert yunyin["ready"] is False
    assert yunyin["detail"] == "the vendor refused the gateway's credentials"
    assert body["vendors"]["default/esign"]["ready"] is True
    assert "wrong" not in str(body)
    # the process itself lives, and serves the vendor that answers
    assert gateway.client.get(f"{gateway.url}/healthz").json()["status"] == "ok"
    assert gateway.query("{ seals(first: 1) { edges { node { provider } } } }")["data"]["seals"]


def test_not_ready_only_when_no_vendor_serves_and_ready_again_after(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    sandbox.faults.append(Fault("esign", "v1.list", status=503))
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503))
    gateway = start_gateway(
        SEALGW_READY_INTERVAL="0.3",
        SEALGW_UPSTREAM_READ_ATTEMPTS="1",
        SEALGW_BREAKER_COOLDOWN="0.5",
    )
    status, body = ready_when(gateway, 503)
    assert status == 503
    assert body["status"] == "not ready"
    assert sorted(body["degraded"]) == ["default/esign", "default/yunyin"]
    assert body["vendors"]["default/esign"]["detail"] == (
        "the vendor could not be reached or did not answer"
    )
    sandbox.faults.clear()
    status, body = ready_when(gateway, 200)
    assert status == 200
    assert body["status"] == "ready"
    assert body["degraded"] == []
