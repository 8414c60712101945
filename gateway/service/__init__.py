"""The service layer: the API's use cases in plain Python (no strawberry, no HTTP), between the
schema above and the loaders and providers below."""

from gateway.service.checks import AuthorizationRequest, SealQuery
from gateway.service.reads import Counted, Limits, SealEdge, SealPage, SealReads
from gateway.service.seals import SealService
from gateway.service.writes import (
    Authorized,
    DefaultChange,
    Deleted,
    ReadBackFailed,
    Reauthorized,
    SealWrites,
    WriteResult,
)

__all__ = [
    "AuthorizationRequest",
    "Authorized",
    "Counted",
    "DefaultChange",
    "Deleted",
    "Limits",
    "ReadBackFailed",
    "Reauthorized",
    "SealEdge",
    "SealPage",
    "SealQuery",
    "SealReads",
    "SealService",
    "SealWrites",
    "WriteResult",
]
