"""Queries run through their compiled plan (gateway/schema/plan.py), with everything the
schema's extensions do on the standard path done here in the same order: the cost limit,
error rewriting for clients, the reported errors, the cost in `extensions`, the request event
and metrics.

A request takes this path only when nothing can go differently from the standard path before
its resolvers run: a document that compiled (so it parsed and passed every validation rule),
variables that coerce, a cost within the limit. Otherwise `execute` answers None, having run
nothing, and the caller hands the request to the standard path, which answers it (its errors
included) exactly as it always has."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from strawberry.types import ExecutionResult

from gateway.metrics import PLANNED
from gateway.schema.context import GatewayContext
from gateway.schema.cost import CostModel
from gateway.schema.errors import client_errors, log_unexpected
from gateway.schema.observe import record_operation
from gateway.schema.plan import Plan, Plans


@dataclass
class PlannedQueries:
    plans: Plans
    cost_model: CostModel
    max_cost: int

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        return self.plans.get(query, operation_name)

    def _cost(self, plan: Plan, variables: dict[str, Any] | None) -> int:
        """The operation's cost (gateway/schema/cost.py); worked out once for an operation
        without variables, whose cost never changes."""
        if plan.operation.variable_definitions:
            return self.cost_model.operation_cost(plan.document, plan.name, variables)
        cost = plan.notes.get("cost")
        if cost is None:
            cost = plan.notes["cost"] = self.cost_model.operation_cost(
                plan.document, plan.name, None
            )
        return int(cost)

    async def execute(
        self,
        plan: Plan,
        variables: dict[str, Any] | None,
        context: GatewayContext,
    ) -> ExecutionResult | None:
        """The operation's result, or None (nothing run) when the standard path must answer."""
        coerced = plan.variables(variables)
        if coerced is None:
            return None
        cost = self._cost(plan, variables)
        if cost > self.max_cost:
            return None
        started = time.perf_counter()
        ran = await plan.run(context, coerced)
        if ran.errors:
            log_unexpected(ran.errors)
        errors = client_errors(ran.errors, context)
        extensions: dict[str, Any] = {}
        if context.show_cost:
            extensions["cost"] = {"requested": cost, "maximum": self.max_cost}
        result = ExecutionResult(data=ran.data, errors=errors, extensions=extensions)
        PLANNED.inc()
        record_operation(
            plan.name,
            "query",
            errors or [],
            bool(ran.data),
            time.perf_counter() - started,
            context,
        )
        return result
