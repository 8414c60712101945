"""The service layer: the API's use cases in plain Python (no strawberry, no HTTP), between the
schema above and the loaders and providers below."""

from gateway.service.checks import AuthorizationRequest, SealQuery
from gateway.service.seals import (
    Authorized,
    Counted,
    DefaultChange,
    Limits,
    ReadBackFailed,
    SealEdge,
    SealPage,
    SealService,
    WriteResult,
)

__all__ = [
    "AuthorizationRequest",
    "Authorized",
    "Counted",
    "DefaultChange",
    "Limits",
    "ReadBackFailed",
    "SealEdge",
    "SealPage",
    "SealQuery",
    "SealService",
    "WriteResult",
]
