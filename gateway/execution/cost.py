"""The static cost of an operation, in vendor calls, computed from the document and its
variables before anything runs: an operation over the limit is refused whole, calling no vendor.

The model is an upper bound a client can reason about: each connection costs one list call per
provider and multiplies its `edges` by the page it asks for; `nodes` and `_entities` multiply by
the ids given; a seal that selects any field only a detail call carries (e签宝 v3) costs one call
more; each mutation costs its vendor call. `README.md`, "Limits", gives the figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)

PROVIDERS = 2

# Seal fields a listed seal may lack, loaded with a detail call per seal.
DETAIL_FIELDS = frozenset(
    {
        "bizType",
        "bizTypeLabel",
        "status",
        "statusLabel",
        "rejectReason",
        "physicalSize",
        "watermarkedImage",
    }
)
# (type, field) -> vendor calls the field itself costs.
CALLS: dict[tuple[str, str], int] = {
    ("Query", "seals"): PROVIDERS,
    ("Query", "seal"): 1,
    ("Query", "node"): 1,
    ("Query", "previewTemplateSeal"): 1,
    ("Query", "previewImageSeal"): 1,
    ("SealConnection", "totalCount"): PROVIDERS,
    ("Seal", "authorizations"): 1,
    ("Authorization", "seal"): 1,
    ("Authorization", "signUrl"): 1,
}
# Query fields whose children repeat once per id in an argument, each costing a call.
PER_ID = {("Query", "nodes"): "ids", ("Query", "_entities"): "representations"}
# Fields whose `first` sets how many times their connection's `edges` repeat.
PAGED = {("Query", "seals"), ("Seal", "authorizations")}


@dataclass(frozen=True, slots=True)
class CostModel:
    schema: GraphQLSchema
    default_page: int
    max_page: int

    def cost(
        self,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> int:
        """The operation's cost with these variables (as the client sent them)."""
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        walk = _Walk(self, fragments, variables or {})
        per_mutation = 1 if operation.operation.value == "mutation" else 0
        return sum(
            per_mutation + walk.field(owner, node)
            for owner, node in walk.fields(root, operation.selection_set)
        )


@dataclass
class _Walk:
    model: CostModel
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]

    def fields(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None
    ) -> Iterator[tuple[GraphQLNamedType, FieldNode]]:
        """The fields selected, each with the type it is selected on: a fragment on a type
        (`... on Seal` under `node` or `_entities`) selects on that type."""
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield parent, selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self.fields(
                    self._narrowed(parent, selection.type_condition), selection.selection_set
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self.fields(
                        self._narrowed(parent, fragment.type_condition), fragment.selection_set
                    )

    def _narrowed(self, parent: GraphQLNamedType, condition: Any) -> GraphQLNamedType:
        if condition is None:
            return parent
        found = self.model.schema.get_type(condition.name.value)
        return found if found is not None else parent

    def argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def page(self, node: FieldNode) -> int:
        first = self.argument(node, "first")
        if not isinstance(first, int) or first < 1:
            return self.model.default_page
        return min(first, self.model.max_page)

    def field(self, parent: GraphQLNamedType, node: FieldNode, page: int = 1) -> int:
        name = node.name.value
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return 0  # __typename and the like
        child = get_named_type(definition.type)
        key = (parent.name, name)
        if key in PER_ID:
            given = self.argument(node, PER_ID[key])
            count = len(given) if isinstance(given, list) else 1
            return count * (1 + self.selection(child, node.selection_set))
        inner_page = self.page(node) if key in PAGED else page
        below = self.selection(child, node.selection_set, inner_page)
        if name == "edges":
            below *= page
        return CALLS.get(key, 0) + below

    def selection(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None, page: int = 1
    ) -> int:
        if selection_set is None:
            return 0
        pairs = list(self.fields(parent, selection_set))
        cost = sum(self.field(owner, node, page) for owner, node in pairs)
        if any(owner.name == "Seal" and node.name.value in DETAIL_FIELDS for owner, node in pairs):
            cost += 1  # one detail call for this seal, whichever such fields it selects
        return cost
