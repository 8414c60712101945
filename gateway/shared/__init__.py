"""State that several gateway processes must agree on (`state`), and where the Redis that
shares it lives (`address`)."""

from gateway.shared.address import RedisAddress, RedisAddressError
from gateway.shared.state import (
    UNAVAILABLE,
    LocalState,
    RedisState,
    SharedState,
    state_from_url,
    wait_while_held,
)

__all__ = [
    "UNAVAILABLE",
    "LocalState",
    "RedisAddress",
    "RedisAddressError",
    "RedisState",
    "SharedState",
    "state_from_url",
    "wait_while_held",
]
