"""Authorisations as a lifecycle, end to end on the sandbox: e签宝 grants pending until an
administrator signs the authorisation letter, changes a period (a new letter) and revokes, each
through the v3 call its page documents, signed; 云银签 documents neither revoking nor changing
a period, so both answer NOT_SUPPORTED there (docs/vendors.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.sandbox import Sandbox
from gateway.sandbox import state as demo
from tests.conftest import Gateway
from tests.test_read_path import ESIGN_A, global_id
from tests.test_write_path import only_error, payload

SEAL = ESIGN_A[1]  # the seal the seeded authorisations are on
AUTH_FIELDS = "id userId role scope status statusReason longTermEffective effectiveAt expiresAt"
AUTHORIZE = f"""
mutation($input: AuthorizeSealInput!) {{
  authorizeSeal(input: $input) {{
    authorizations {{ {AUTH_FIELDS} signUrl }}
    signUrl
    userErrors {{ code field message }}
  }}
}}"""
REVOKE = """
mutation($input: AuthorizationRefInput!) {
  revokeAuthorization(input: $input) { revokedAuthorizationId userErrors { code field message } }
}"""
CHANGE = f"""
mutation($input: ChangeAuthorizationPeriodInput!) {{
  changeAuthorizationPeriod(input: $input) {{
    authorization {{ {AUTH_FIELDS} signUrl }}
    signUrl
    userErrors {{ code field message }}
  }}
}}"""
LIST = f"""
query($id: ID!) {{
  seal(id: $id) {{ authorizations(first: 50) {{ edges {{ node {{ {AUTH_FIELDS} signUrl
    vendorStatus }} }} }} }}
}}"""


def seal_id(vendor_id: str, provider: str = "esign") -> str:
    return global_id("Seal", f"{provider}:{vendor_id}")


def listed(gateway: Gateway, seal: str) -> dict[str, dict[str, Any]]:
    edges = gateway.data(LIST, {"id": seal})["seal"]["authorizations"]["edges"]
    return {edge["node"]["id"]: edge["node"] for edge in edges}


def sent(sandbox: Sandbox, endpoint: str) -> dict[str, Any]:
    """The JSON body e签宝 received at `endpoint` (once), checked to be signed."""
    (request,) = [r for r in sandbox.requests if r.endpoint == endpoint]
    assert request.headers["x-tsign-open-auth-mode"] == "Signature"
    assert request.headers["x-tsign-open-ca-signature"]
    if request.body:
        assert request.headers["content-md5"]
    body: dict[str, Any] = json.loads(request.body) if request.body else {}
    return body


def grant(gateway: Gateway, **input_: Any) -> dict[str, Any]:
    return payload(
        gateway,
        AUTHORIZE,
        {
            "sealId": seal_id(SEAL.seal_id),
            "userIds": [demo.ESIGN_MEMBER_3],
            "role": "USER",
            "scope": "ALL_CONTRACTS",
            **input_,
        },
        "authorizeSeal",
    )


def test_seeded_authorisations_say_their_state(gateway: Gateway) -> None:
    found = listed(gateway, seal_id(SEAL.seal_id))
    states = sorted((a["userId"], a["status"], a["statusReason"]) for a in found.values())
    assert states == sorted(
        [
            (demo.ESIGN_MEMBER_1, "IN_FORCE", None),
            (demo.ESIGN_MEMBER_2, "PENDING", "NOT_YET_EFFECTIVE"),
        ]
    )
    assert all(a["signUrl"] is None for a in found.values())  # no letter awaits signing


def test_authorise_is_pending_until_the_letter_is_signed(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    result = grant(gateway)
    assert result["userErrors"] == []
    (made,) = result["authorizations"]
    assert (made["userId"], made["role"], made["scope"]) == (
        demo.ESIGN_MEMBER_3,
        "USER",
        "ALL_CONTRACTS",
    )
    assert (made["status"], made["statusReason"], made["longTermEffective"]) == (
        "PENDING",
        "LETTER_NOT_SIGNED",
        True,
    )
    letter = result["signUrl"]
    assert letter
    assert made["signUrl"] == letter  # authorization-sign-url answers the same letter
    assert sent(sandbox, "v3.internalAuth") == {
        "orgId": demo.ESIGN_ORG_A,
        "sealId": SEAL.seal_id,
        "authorizedPsnIds": [demo.ESIGN_MEMBER_3],
        "sealRole": "SEAL_USER",
        "transactorPsnId": demo.ESIGN_TRANSACTOR,
        "sealAuthScope": {"templateIds": ["ALL"]},
        "longTermEffective": True,
    }
    assert sandbox.count("esign:v3.authorizationSignUrl") == 1

    # an administrator signs the letter at the vendor: the authorisation is in force
    assert gateway.client.post(letter).status_code == 200
    sandbox.reset_counts()
    now = listed(gateway, seal_id(SEAL.seal_id))[made["id"]]
    assert (now["status"], now["statusReason"], now["signUrl"]) == ("IN_FORCE", None, None)
    assert sandbox.count("esign:v3.authorizationSignUrl") == 0  # asked only while pending


def test_a_pending_letter_is_signed_or_revoked_before_another(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    assert grant(gateway)["userErrors"] == []
    error = only_error(grant(gateway, role="EXAMINER"))
    assert (error["code"], error["field"]) == ("AUTHORIZATION_CONFLICT", "userIds")
    assert "awaits signing" in error["message"]
    assert sandbox.count("esign:v3.internalAuth") == 1


def test_change_a_period_then_revoke(gateway: Gateway, sandbox: Sandbox) -> None:
    (made,) = grant(gateway)["authorizations"]
    sandbox.reset_counts()
    changed = payload(
        gateway,
        CHANGE,
        {
            "authorizationId": made["id"],
            "effectiveAt": "2030-01-01T00:00:00+08:00",
            "expiresAt": "2031-06-30T00:00:00+08:00",
        },
        "changeAuthorizationPeriod",
    )
    assert changed["userErrors"] == []
    renewed = changed["authorization"]
    assert renewed["id"] != made["id"]  # e签宝 gives the new period a new id
    assert (renewed["status"], renewed["statusReason"]) == ("PENDING", "LETTER_NOT_SIGNED")
    assert (renewed["effectiveAt"], renewed["expiresAt"]) == (
        "2029-12-31T16:00:00+00:00",
        "2031-06-29T16:00:00+00:00",
    )
    assert changed["signUrl"]
    body = sent(sandbox, "v3.reauthorization")
    assert body == {
        "orgId": demo.ESIGN_ORG_A,
        "transactorPsnId": demo.ESIGN_TRANSACTOR,
        "sealAuthBizId": body["sealAuthBizId"],
        "longTermEffective": False,
        "effectiveTime": 1_893_427_200_000,
        "expireTime": 1_940_515_200_000,
    }
    assert body["sealAuthBizId"] not in {a.biz_id for a in sandbox.esign_auths}

    # the old id no longer stands
    error = only_error(
        payload(gateway, REVOKE, {"authorizationId": made["id"]}, "revokeAuthorization")
    )
    assert (error["code"], error["field"]) == ("AUTHORIZATION_NOT_FOUND", "authorizationId")
    assert sandbox.count("esign:v3.authDelete") == 0

    revoked = payload(gateway, REVOKE, {"authorizationId": renewed["id"]}, "revokeAuthorization")
    assert revoked == {"revokedAuthorizationId": renewed["id"], "userErrors": []}
    deleted = sent(sandbox, "v3.authDelete")
    assert deleted["deleteType"] == "sealAuthBizIds"
    assert deleted["orgId"] == demo.ESIGN_ORG_A
    (gone,) = deleted["sealAuthBizIds"]
    assert gone not in {a.biz_id for a in sandbox.esign_auths}
    assert renewed["id"] not in listed(gateway, seal_id(SEAL.seal_id))


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"expiresAt": "2099-01-01T00:00:00+08:00"}, "expiresAt"),  # at most 3 years
        ({"effectiveAt": "2030-01-01T00:00:00+08:00"}, "effectiveAt"),  # long-term: no times
        ({"userIds": [f"m{n}" for n in range(11)]}, "userIds"),  # at most 10 members
    ],
)
def test_esign_authorise_refusals_before_any_call(
    gateway: Gateway, sandbox: Sandbox, input_: dict[str, Any], field: str
) -> None:
    error = only_error(grant(gateway, **input_))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert sandbox.count("esign") == 0


def test_a_period_is_checked_before_any_call(gateway: Gateway, sandbox: Sandbox) -> None:
    (seeded,) = [
        a["id"]
        for a in listed(gateway, seal_id(SEAL.seal_id)).values()
        if a["userId"] == demo.ESIGN_MEMBER_1
    ]
    sandbox.reset_counts()
    for input_, field in (
        ({"expiresAt": "2020-01-01T00:00:00+08:00"}, "expiresAt"),  # before now
        ({"effectiveAt": "2030-01-01T00:00:00+08:00"}, "effectiveAt"),  # no end: no start
        (
            {"effectiveAt": "2030-01-01T00:00:00+08:00", "expiresAt": "2034-01-01T00:00:00+08:00"},
            "expiresAt",  # more than 3 years
        ),
    ):
        error = only_error(
            payload(
                gateway, CHANGE, {"authorizationId": seeded, **input_}, "changeAuthorizationPeriod"
            )
        )
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field), input_
    assert sandbox.count("esign") == 0


def test_yunyin_documents_no_revoke_or_period_change(gateway: Gateway, sandbox: Sandbox) -> None:
    found = listed(gateway, seal_id("50001", "yunyin"))
    some = next(iter(found.values()))
    assert some["status"] is None  # its page leaves `status` unconfirmed
    assert some["longTermEffective"] in (True, False)
    sandbox.reset_counts()
    for mutation, input_, name in (
        (REVOKE, {"authorizationId": some["id"]}, "revokeAuthorization"),
        (CHANGE, {"authorizationId": some["id"]}, "changeAuthorizationPeriod"),
    ):
        error = only_error(payload(gateway, mutation, input_, name))
        assert error["code"] == "NOT_SUPPORTED"
        assert "云银签's seal API documents no call" in error["message"]  # the reason
    assert sandbox.count("yunyin") == 0


def test_authorisation_ids_are_checked(gateway: Gateway) -> None:
    for bad in ("not-an-id", seal_id(SEAL.seal_id)):
        error = only_error(
            payload(gateway, REVOKE, {"authorizationId": bad}, "revokeAuthorization")
        )
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "authorizationId")
