"""The lean resolvers (gateway/schema/lean.py) answer byte for byte what strawberry's own
answer: every query document the tests use, the benchmark's, and one that reads every field of
every seal of the sandbox, sent to a gateway with them and one without, over the same sandbox."""

from __future__ import annotations

import enum
import importlib
import re
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLObjectType, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError

from gateway.sandbox import Sandbox
from gateway.schema.lean import lean_resolvers
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


class Kind(enum.Enum):
    ROUND = "round"


KindType = strawberry.enum(Kind)


@strawberry.input
class Where:
    name: str


# How `Items.item` was called (directly, or through strawberry's resolver), with which kind
# and condition.
SEEN: list[tuple[str, object, object]] = []


@strawberry.type
class Items:
    @strawberry.field
    def item(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        first: int | None = None,
        kind: Kind | None = None,
        where: Where | None = None,
    ) -> str:
        SEEN.append(("strawberry" if isinstance(info, strawberry.Info) else "direct", kind, where))
        return f"{id}:{first}"

    @strawberry.field
    def renamed(self, page_size: int) -> int:
        return page_size


def test_a_method_with_arguments_is_called_directly_while_each_argument_is_passed_as_given() -> (
    None
):
    """`seal(id:)` and its kind are called directly; an enum or an input object given, or an
    argument whose Python name differs from its GraphQL one, takes strawberry's conversion."""
    schema = strawberry.Schema(query=Items)
    items = schema._schema.type_map["Items"]
    assert isinstance(items, GraphQLObjectType)
    fields = items.fields
    standard = fields["item"].resolve
    assert lean_resolvers(schema) >= 1
    assert fields["item"].resolve is not standard
    assert fields["renamed"].resolve.__name__ != "direct"

    def answer(query: str) -> object:
        result = schema.execute_sync(query)
        assert result.errors is None, result.errors
        return result.data

    assert answer('{ item(id: "7", first: 3) }') == {"item": "7:3"}
    assert SEEN.pop() == ("direct", None, None)  # called directly
    assert answer('{ item(id: "7", kind: ROUND) }') == {"item": "7:None"}
    assert SEEN.pop() == ("strawberry", Kind.ROUND, None)  # strawberry converted the enum
    assert answer('{ item(id: "7", where: {name: "a"}) }') == {"item": "7:None"}
    info_type, _, where = SEEN.pop()
    assert (info_type, where) == ("strawberry", Where(name="a"))
    assert answer('{ item(id: "7", kind: null, where: null) }') == {"item": "7:None"}
    assert SEEN.pop() == ("direct", None, None)  # null is null either way
    assert answer("{ renamed(pageSize: 4) }") == {"renamed": 4}
