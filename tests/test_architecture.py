"""The layers of README's "How it is built", held by tests: imports point only downward, the
sandbox is sealed off from the gateway, attribute names are derived, and the schema's enums are
the domain's."""

from __future__ import annotations

import ast
import dataclasses
from enum import Enum
from pathlib import Path

import msgspec
import pytest

from gateway import domain
from gateway.schema import enums
from gateway.schema.writes import UserErrorCode

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gateway"

# Top to bottom; a module may import its own layer and the layers below it.
LAYERS = [
    ("assembly", ["gateway.cli", "gateway.demo"]),
    # the HTTP face: the app, the endpoint, GraphiQL, persisted documents, idempotency
    ("http", ["gateway.http"]),
    # settings read, with the files they name (tenants, trusted documents)
    ("config", ["gateway.config"]),
    # who may call: callers, tenants, admission
    ("access", ["gateway.access"]),
    # the one path of every operation: documents, cost, plans, errors, request events
    ("execution", ["gateway.execution"]),
    ("schema", ["gateway.schema"]),
    ("service", ["gateway.service"]),
    # seal events: the log, its delivery, the vendors' notifications, the change detector
    ("events", ["gateway.events"]),
    ("health", ["gateway.ops.health"]),
    ("providers", ["gateway.providers"]),
    (
        "base",
        [
            "gateway.domain",
            "gateway.settings",
            "gateway.shared",
            "gateway.ops.metrics",
            "gateway.ops.logs",
            "gateway.ops",
        ],
    ),
]
# Rules between groups beyond the order of the layers: what each may import of the gateway.
ALLOWED = {
    # types and resolvers over the use cases, nothing of how requests arrive or are executed
    "gateway.schema": ("gateway.schema", "gateway.service", "gateway.domain"),
    # who is calling knows nothing of HTTP or of execution
    "gateway.access": (
        "gateway.access",
        "gateway.providers",
        "gateway.domain",
        "gateway.settings",
        "gateway.shared",
    ),
    # an operation's path knows nothing of HTTP, of callers' credentials or of vendors
    "gateway.execution": (
        "gateway.execution",
        "gateway.schema",
        "gateway.domain",
        "gateway.ops.metrics",
        "gateway.providers.resilience",
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gateway_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "gateway" or name.startswith("gateway.")}


def layer_of(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if not m.startswith("gateway.sandbox"))
)
def test_imports_point_only_downward(module: str) -> None:
    own = layer_of(module)
    if own is None:
        assert module in ("gateway", "gateway.__main__"), f"{module} is in no layer"
        return
    for imported in gateway_imports(MODULES[module]):
        if imported.startswith("gateway.sandbox"):
            assert module == "gateway.demo", f"{module} imports the sandbox"
            continue
        target = layer_of(imported)
        if target is None:
            continue  # `from gateway import domain` names a module of a layer checked below
        assert target >= own, (
            f"{module} ({LAYERS[own][0]}) imports {imported} ({LAYERS[target][0]})"
        )


@pytest.mark.parametrize("group", sorted(ALLOWED))
def test_groups_import_only_what_their_rules_allow(group: str) -> None:
    for module, path in MODULES.items():
        if module != group and not module.startswith(group + "."):
            continue
        for imported in gateway_imports(path):
            allowed = ALLOWED[group]
            assert any(imported == a or imported.startswith(a + ".") for a in allowed) or (
                imported == "gateway"
            ), f"{module} imports {imported}"


def test_the_sandbox_imports_nothing_of_the_gateway() -> None:
    for module, path in MODULES.items():
        if module.startswith("gateway.sandbox"):
            outside = {i for i in gateway_imports(path) if not i.startswith("gateway.sandbox")}
            assert outside == set(), f"{module} imports {outside}"


def test_seal_attributes_are_the_seal_fields() -> None:
    fields = {f.name for f in msgspec.structs.fields(domain.Seal)} - {"key", "known"}
    assert {attr.value for attr in domain.SealAttr} == fields
    filters = {f.name for f in dataclasses.fields(domain.SealFilter)} - {"include_revoked"}
    assert set(domain.FILTER_FIELDS) == filters


@pytest.mark.parametrize(
    ("domain_enum", "schema_enum"),
    [
        (domain.ProviderName, enums.Provider),
        (domain.SealBizType, enums.SealBizType),
        (domain.SealStatus, enums.SealStatus),
        (domain.SealStyle, enums.SealStyle),
        (domain.TemplateShape, enums.TemplateShape),
        (domain.SealColor, enums.SealColor),
        (domain.SizeUnit, enums.SizeUnit),
        (domain.AuthorizationRole, enums.AuthorizationRole),
        (domain.AuthorizationScope, enums.AuthorizationScope),
        (domain.Capability, enums.SealOperation),
        (domain.Rejection, UserErrorCode),
        (domain.SealEventType, enums.SealEventType),
        (domain.SealEventSource, enums.SealEventSource),
    ],
)
def test_schema_enums_are_the_domains(domain_enum: type[Enum], schema_enum: type[Enum]) -> None:
    assert [m.name for m in domain_enum] == [m.name for m in schema_enum]
