"""The answer encoder (orjson) writes exactly the bytes the standard library's compact JSON
with UTF-8 text would: checked over answers covering the whole sandbox data set, errors
included, and over values JSON finds awkward."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.conftest import Gateway

EVERY_FIELD = """query All($after: String) { seals(first: 100, after: $after) {
  totalCount unavailableProviders
  edges { cursor node { id vendorId provider name code bizType bizTypeLabel status statusLabel
    style isDefault horizontalText bottomText rejectReason createdAt authorizationCount
    physicalSize { width height unit } imageSize { width height unit } image { url expiresAt }
    supportedOperations
    authorizations(first: 20) { totalCount edges { cursor node {
      id userId userName role scope effectiveAt expiresAt templates { id name } } } } } }
  pageInfo { hasNextPage endCursor } } }"""


def standard(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_every_seal_encodes_the_same(gateway: Gateway) -> None:
    answer = gateway.query(EVERY_FIELD)
    assert answer["data"]["seals"]["totalCount"] > 10
    assert orjson.dumps(answer) == standard(answer)
    errors = gateway.query('{ seal(id: "bm90aGluZw==") { name } nope }')
    assert orjson.dumps(errors) == standard(errors)


@pytest.mark.parametrize(
    "value",
    [
        {"s": '印章\u2028\u2029\x00\x1f"\\/</script>', "e": "😀"},
        {"f": [0.1, 1.0, 0.9, 38.5, 123456789.125, -0.0, 1e15]},
        {"i": [0, -1, 2**53, -(2**63)], "b": [True, False, None]},
        {"nested": [[{"a": []}], {}], "unicode key 名称": "值"},
    ],
)
def test_awkward_values_encode_the_same(value: Any) -> None:
    assert orjson.dumps(value) == standard(value)


def test_floats_in_exponent_form_differ_only_in_spelling() -> None:
    """Below 1e-4 or from 1e16, orjson writes `1e-7` where Python writes `1e-07`: the same
    number to any JSON reader. The schema's floats (sizes in millimetres, opacity) stay far
    from both ends."""
    value = {"f": [1e-7, 2.5e16]}
    assert orjson.dumps(value) != standard(value)
    assert json.loads(orjson.dumps(value)) == json.loads(standard(value)) == value
