"""Global ids: Relay's base64 `Type:nodeId`, where the node id carries the provider."""

from __future__ import annotations

from strawberry.relay import GlobalID

from gateway.domain import BadInput


def parse_node_id(value: str) -> tuple[str, str]:
    """The type name and node id inside a global id; a clear error when it is not one."""
    try:
        global_id = GlobalID.from_id(value)
    except (ValueError, TypeError):
        raise BadInput(f"{value!r} is not an id this API issued.", "id") from None
    return global_id.type_name, global_id.node_id
