"""The lean resolvers (gateway/schema/lean.py) answer byte for byte what strawberry's own
answer: every query document the tests use, the benchmark's, and one that reads every field of
every seal of the sandbox, sent to a gateway with them and one without, over the same sandbox."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError

from gateway.sandbox import Sandbox
from tests.conftest import StartGateway
from tests.test_encoding import EVERY_FIELD
from tests.test_read_path import ESIGN_A, YUNYIN_IDS, global_id

ROOT = Path(__file__).resolve().parent.parent
# The sandbox signs its image links afresh each time: the same link, another signature.
VOLATILE = re.compile(rb"(Expires=|Signature=|expiresAt\":\")[^&\"]*")


def query_documents() -> list[str]:
    """Every module-level query document of the test modules, and the benchmark's."""
    found: dict[str, None] = {EVERY_FIELD: None}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        if path.stem == "test_lean":
            continue
        module = importlib.import_module(f"tests.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, str) and "{" in value:
                try:
                    document = parse(value)
                except GraphQLSyntaxError:
                    continue
                operations = [
                    d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                ]
                if operations and all(o.operation == OperationType.QUERY for o in operations):
                    found[value] = None
    for path in sorted((ROOT / "bench" / "peers").glob("*.graphql")):
        found[path.read_text()] = None
    return list(found)


VARIABLES: list[dict[str, Any]] = [
    {},
    {
        "id": global_id("Seal", "yunyin:50003"),
        "ids": [global_id("Seal", f"yunyin:{i}") for i in YUNYIN_IDS]
        + [global_id("Seal", f"esign:{s.seal_id}") for s in ESIGN_A],
        "n": 7,
        "first": 7,
        "after": None,
    },
]


def test_lean_resolvers_answer_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    lean = start_gateway()
    plain = start_gateway(SEALGW_LEAN_RESOLVERS="off")
    documents = query_documents()
    assert len(documents) >= 15
    compared = 0
    for document in documents:
        for variables in VARIABLES:
            body = {"query": document, "variables": variables}
            answers = [
                g.client.post(f"{g.url}/graphql", json=body, headers={"X-Query-Cost": "1"})
                for g in (lean, plain)
            ]
            assert answers[0].status_code == answers[1].status_code, document
            one, other = (VOLATILE.sub(rb"\1~", a.content) for a in answers)
            assert one == other, document
            compared += 1
    assert compared == len(documents) * len(VARIABLES)
