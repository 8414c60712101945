"""Where seal events come from, with real parts: the sandbox's e签宝 pushing its notifications
to the gateway (creates, reviews), 云银签's changes made in its console found by the change
detector. (With Redis, several processes: tests/test_shared_state.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.sandbox import Sandbox
from tests.conftest import SandboxServer, StartGateway
from tests.events_client import events, subscribed
from tests.test_esign_images import CREATE_ESIGN_IMAGE, upload
from tests.test_seal_events import rename
from tests.test_write_path import payload, png

pytestmark = pytest.mark.timeout(180)


def wait_for(
    gateway_url: str, after: str, matches: Callable[[dict[str, Any]], bool], within_s: float = 10
) -> list[dict[str, Any]]:
    """The events after `after` once one matches (the log read again until then)."""
    deadline = time.monotonic() + within_s
    while True:
        found, _ = events(gateway_url, after=after)
        if any(matches(e) for e in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


# --- the sandbox's e签宝 tells the gateway ------------------------------------------------------


def test_the_sandbox_pushes_creates_and_reviews_to_the_gateway(
    start_gateway: StartGateway, sandbox_server: SandboxServer
) -> None:
    gateway = start_gateway()
    sandbox = sandbox_server.sandbox
    sandbox.config.esign_notify_url = f"{gateway.url}/webhooks/esign"
    _, start = events(gateway.url)
    with subscribed(gateway.url, start, {"sources": ["VENDOR_NOTIFICATION"]}) as subscriber:
        image = upload(gateway, png(240, 200))["image"]
        created = payload(
            gateway,
            CREATE_ESIGN_IMAGE,
            {
                "provider": "ESIGN",
                "name": "待审核的公章",
                "bizType": "PUBLIC",
                "imagePath": image["storagePath"],
                "widthMm": 40,
                "heightMm": 40,
            },
            "createImageSeal",
        )["seal"]
        assert created["status"] == "AWAITING_REVIEW"
        told = subscriber.next()
        assert (told["type"], told["vendorAction"]) == ("CREATED", "SEAL_CREATE")
        assert told["vendorSealId"] == created["vendorId"]
        # e签宝's reviewer passes it (the sandbox's knob)
        reviewed = httpx.post(
            f"{sandbox_server.url}/_sandbox/esign/seals/{created['vendorId']}/review",
            json={"pass": True},
        )
        assert reviewed.status_code == 200, reviewed.text
        passed = subscriber.next()
    assert (passed["type"], passed["vendorAction"]) == ("REVIEW_PASSED", "SEAL_AUDIT")
    assert passed["sealId"] == told["sealId"]
    # the gateway's own write is in the log beside what e签宝 told
    log, _ = events(gateway.url, after=start)
    # (e签宝's notification may come before the gateway has read its write back)
    assert sorted((e["source"], e["type"]) for e in log) == [
        ("GATEWAY_WRITE", "CREATED"),
        ("VENDOR_NOTIFICATION", "CREATED"),
        ("VENDOR_NOTIFICATION", "REVIEW_PASSED"),
    ]
    # every delivery was answered 200 the first time
    sent = httpx.get(f"{sandbox_server.url}/_sandbox/esign/notifications").json()
    assert [n["status"] for n in sent["notifications"]] == [200, 200]


# --- 云银签's console ----------------------------------------------------------------------------


def console_rename(sandbox: Sandbox, seal_id: int, name: str) -> None:
    """A change made in 云银签's own console, which the gateway is not told of."""
    sandbox.yunyin_seals[seal_id].name = name


def test_changes_made_in_yunyins_console_are_detected(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_CHANGE_POLL_SECONDS="0.3")
    time.sleep(0.6)  # the first listing: the baseline
    _, start = events(gateway.url)
    console_rename(sandbox, 50001, "控制台改的名字")
    sandbox.yunyin_seals[50003].deleted = True
    wait_for(gateway.url, start, lambda e: e["type"] == "DELETED")
    found = wait_for(gateway.url, start, lambda e: e["type"] == "UPDATED")
    kinds = sorted((e["type"], e["vendorSealId"], e["source"]) for e in found)
    assert kinds == [
        ("DELETED", "50003", "CHANGE_DETECTED"),
        ("UPDATED", "50001", "CHANGE_DETECTED"),
    ]
    (updated,) = [e for e in found if e["type"] == "UPDATED"]
    details = {d["name"]: d["value"] for d in updated["details"]}
    assert details["changed"] == "name"
    assert details["sealName"] == "控制台改的名字"
    assert updated["seal"]["name"] == "控制台改的名字"
    deleted = next(e for e in found if e["type"] == "DELETED")
    assert deleted["seal"] is None  # gone
    # a change the gateway made is its own event, not detected again
    _, after = events(gateway.url)
    rename(gateway.url, "网关改的名字")
    time.sleep(1.0)
    later, _ = events(gateway.url, after=after)
    assert [(e["source"], e["type"]) for e in later] == [("GATEWAY_WRITE", "UPDATED")]
