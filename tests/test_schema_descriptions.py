"""Every type, field, argument, input field and enum value of the API is described."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
)

from gateway.schema import build_schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def test_everything_is_described() -> None:
    schema = build_schema()._schema
    missing: list[str] = []
    for name, type_ in schema.type_map.items():
        if name.startswith("_") or name in BUILT_IN or name.startswith("link__"):
            continue  # GraphQL's and federation's own
        if not type_.description:
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if field_name.startswith("_"):
                    continue
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg})"
                    for arg, argument in field.args.items()
                    if not argument.description
                )
        elif isinstance(type_, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field}" for field, value in type_.fields.items() if not value.description
            )
        elif isinstance(type_, GraphQLEnumType):
            missing.extend(
                f"{name}.{value}" for value, item in type_.values.items() if not item.description
            )
        else:
            assert isinstance(type_, GraphQLScalarType)
    assert missing == []
