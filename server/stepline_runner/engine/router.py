"""`Router`: routing a run's messages with its workflow's conditions, as the
driver needs it (a superstep's sent messages, due timers): one error type."""

from __future__ import annotations

from collections.abc import Mapping

from stepline.v1 import payload_pb2

from .conditions import ConditionEvaluator, Verdicts
from .graph import Graph
from .routing import ConditionError, RoutingResult, UndeliverableError, queries, route, settle
from .state import RunState
from .superstep import CollectError
from .timers import split_due

FanIn = dict[int, list[payload_pb2.Message]]


class Router:
    def __init__(
        self, graph: Graph, conditions: ConditionEvaluator, accepts: Mapping[str, frozenset[str]]
    ) -> None:
        self.graph = graph
        self.conditions = conditions
        self.accepts = accepts

    async def route(
        self, sent: list[payload_pb2.Message], fan_in: FanIn
    ) -> tuple[RoutingResult, list[tuple[str, str]]]:
        """Route `sent` through the fan-in buffers `fan_in`: the result and
        the warnings to log. Raises `CollectError` with the run's error."""
        if not sent:
            return RoutingResult(fan_in=fan_in), []
        graph = self.graph
        try:
            asked = queries(graph, sent)
            # No expression to ask about (most edges): no trip to the evaluator.
            verdicts = await self.conditions.verdicts(asked, sent) if asked else Verdicts(sent)
            routed = route(graph, sent, fan_in, self.accepts, verdicts)
            return routed, settle(graph, routed)
        except ConditionError as exc:
            error = payload_pb2.ErrorInfo(type="RoutingError", message=str(exc))
            raise CollectError(error) from exc
        except UndeliverableError as exc:
            raise CollectError(exc.undeliverable.error()) from exc

    async def take_due(self, state: RunState, now: float) -> list[tuple[str, str]] | None:
        """Route the run's timers due at `now` into its messages for the next
        superstep, as if sent now: the warnings to log, None when none was
        due. Raises `CollectError` (and changes nothing) for the run's error."""
        due, timers = split_due(state.timers, now)
        if not due:
            return None
        routed, warnings = await self.route(due, state.fan_in)
        state.timers = timers
        state.pending += routed.deliveries
        state.fan_in = routed.fan_in
        return warnings
