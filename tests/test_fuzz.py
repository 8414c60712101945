"""The whole schema fuzzed against the running gateway with an admin key (schemathesis's GraphQL
mode, bounded in examples and time, loopback only): no answer may be a 5xx."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta, timezone

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from gateway.schema import build_schema
from tests.conftest import SEEN_BODIES, TenantsGateway

EXAMPLES_PER_OPERATION = 20

# An upload cannot ride in a JSON body: a string stands in (the gateway must refuse it cleanly).
schemathesis.graphql.scalar("Upload", st.text(max_size=20).map(nodes.String))
# Times: well-formed ones, and anything at all.
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes().map(lambda d: d.replace(tzinfo=timezone(timedelta(hours=8))).isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        st.text(),
    ).map(nodes.String),
)


def test_no_query_or_mutation_gets_a_server_error(tenants_gateway: TenantsGateway) -> None:
    schema = schemathesis.graphql.from_dict(build_schema().introspect())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 20
    url = f"{tenants_gateway.url}/graphql"
    headers = {"Authorization": f"Bearer {tenants_gateway.keys['globex-admin']}"}
    statuses: Counter[int] = Counter()

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=url, headers=headers, timeout=10)
            statuses[response.status_code] += 1
            SEEN_BODIES.append(response.text)
            assert response.status_code < 500, (case.body, response.text[:500])

        check()
    assert sum(statuses.values()) >= len(operations)
    assert all(status < 500 for status in statuses)
    print(f"fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
