"""The one writer of a position's stop-loss / take-profit orders (an entity workflow, id
`position-<id>`): MAJ webhooks, dashboard edits, sells and fills all reach it as messages,
and it handles them one batch at a time, so two changes never interleave on the exchange.

A batch of requests collapses into its last word: prices are merged in arrival order and
only the result is placed. Replacing cancels the old orders first (on spot exchanges they
hold the quantity), then places the new ones; if the exchange refuses them, the previous
orders are placed again, and if even that fails the position is marked unprotected with
the reason, for the dashboard to alert on."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.protection import (
        CancelLegs,
        FlagProtection,
        PlaceLegs,
        ProtectionActivities,
        ProtectionState,
        SaveProtection,
    )
    from exchanges.types import floor_to_step
    from trading.protection import (
        Leg,
        describe_legs,
        legs_match,
        price_problem,
        wanted_legs,
    )
    from workflows.failures import failure_message, failure_type, is_business_failure
    from workflows.inputs import (
        POSITION_GUARD,
        GuardCall,
        GuardInput,
        HoldOutcome,
        HoldRequest,
        ProtectOutcome,
        ProtectRequest,
    )

EXCHANGE = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=10,
    ),
)
# Bounded: a write that keeps failing must not wedge every later message of the position.
DATABASE = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=10),
)
# A sell that freed the quantity and never came back (it cannot: it is a workflow too,
# but its worker may be gone a long time): the position is protected again after this.
# Longer than a sell's own path (a 10-minute read, then a 10-minute placement).
HOLD_LIMIT = timedelta(minutes=25)
# After the exchange stayed unreachable with the protective orders possibly lifted.
RETRY_AFTER = timedelta(minutes=1)


Answer = TypeVar("Answer", bound=BaseModel)


class _Pending(BaseModel):
    kind: str  # protect | hold | resume | sync
    request_id: str
    protect: ProtectRequest | None = None
    hold_id: str | None = None


@workflow.defn(name=POSITION_GUARD)
class PositionGuardWorkflow:
    @workflow.init
    def __init__(self, guard: GuardInput) -> None:
        self._position_id = guard.position_id
        self._inbox: list[_Pending] = []
        self._answers: dict[str, BaseModel] = {}
        self._answered: set[str] = set()  # within the current batch
        self._refresh = False
        self._holds: dict[str, datetime] = dict(guard.holds)
        self._retry_at: datetime | None = None
        self._lifted = False  # protective orders cancelled in the current batch
        self._retrying = False  # an outage left them off: retry until a pass succeeds
        self._seq: int | None = guard.seq

    # -- messages ------------------------------------------------------------------------

    @workflow.update
    async def protect(self, request: ProtectRequest) -> ProtectOutcome:
        return await self._ask(
            _Pending(kind="protect", request_id=request.request_id, protect=request),
            ProtectOutcome,
        )

    @workflow.update
    async def hold(self, request: HoldRequest) -> HoldOutcome:
        return await self._ask(_Pending(kind="hold", request_id=request.request_id), HoldOutcome)

    @workflow.update
    async def resume(self, call: GuardCall) -> ProtectOutcome:
        return await self._ask(
            _Pending(kind="resume", request_id=call.request_id, hold_id=call.hold_id),
            ProtectOutcome,
        )

    @workflow.update
    async def sync(self, call: GuardCall) -> ProtectOutcome:
        return await self._ask(_Pending(kind="sync", request_id=call.request_id), ProtectOutcome)

    @workflow.signal
    def refresh(self) -> None:
        self._refresh = True

    async def _ask(self, pending: _Pending, kind: type[Answer]) -> Answer:
        self._inbox.append(pending)
        await workflow.wait_condition(lambda: pending.request_id in self._answers)
        answer = self._answers.pop(pending.request_id)
        assert isinstance(answer, kind)
        return answer

    # -- the loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, guard: GuardInput) -> str:
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox) or self._refresh, timeout=self._next_timer()
                )
            except TimeoutError:
                self._refresh = True  # a hold expired, or a retry is due
            now = workflow.now()
            self._holds = {h: until for h, until in self._holds.items() if until > now}
            self._retry_at = None
            batch, self._inbox, self._refresh = self._inbox, [], False
            self._answered.clear()
            self._lifted = False
            try:
                closed = await self._handle(batch)
                self._retrying = False
            except ActivityError as error:
                # The exchange stayed unreachable through the retries: say so to every
                # caller, and rather than fail the guard, try again in a minute when the
                # protective orders may be off.
                closed = await self._failed(batch, error)
            if self._inbox or self._refresh:
                continue
            if closed:
                # Let update handlers return their answers before the workflow completes.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(self._inbox)
                )
                if not self._inbox:
                    return "position closed"
            elif workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(self._inbox)
                )
                if not self._inbox:
                    workflow.continue_as_new(
                        GuardInput(position_id=self._position_id, seq=self._seq, holds=self._holds)
                    )

    def _next_timer(self) -> timedelta | None:
        moments = [*self._holds.values(), *([self._retry_at] if self._retry_at else [])]
        if not moments:
            return None
        return max(min(moments) - workflow.now(), timedelta(seconds=1))

    async def _failed(self, batch: list[_Pending], error: ActivityError) -> bool:
        reason = failure_message(error)
        self._fail(batch, reason)
        if failure_type(error) == "PositionGone":  # its broker was deleted
            return True
        if (self._lifted or self._retrying) and not self._holds:
            self._retrying = True
            self._retry_at = workflow.now() + RETRY_AFTER
            await workflow.execute_local_activity_method(
                ProtectionActivities.flag_protection,
                FlagProtection(
                    position_id=self._position_id,
                    protection="unprotected",
                    error=f"the exchange did not answer while the stop-loss / take-profit were"
                    f" being replaced: {reason}; retrying every minute",
                ),
                **DATABASE,
            )
        return False

    async def _handle(self, batch: list[_Pending]) -> bool:
        """One pass: read the exchange, apply the batch, converge. True once closed."""
        state = await self._refresh_state()
        if self._seq is None:
            self._seq = state.placed_before
        stop_loss, take_profit = state.stop_loss, state.take_profit
        accepted: list[_Pending] = []
        for pending in batch:
            if pending.kind == "hold":
                self._holds[pending.request_id] = workflow.now() + HOLD_LIMIT
            elif pending.kind == "resume" and pending.hold_id is not None:
                self._holds.pop(pending.hold_id, None)
            elif pending.kind == "protect" and pending.protect is not None:
                merged = _merge(pending.protect, stop_loss, take_profit)
                problem = price_problem(*merged, state.price) if state.open else None
                if problem is not None:
                    self._answer(pending, ProtectOutcome(status="rejected", message=problem))
                    continue
                stop_loss, take_profit = merged
                # Earlier updates of the batch are replaced by this one.
                for earlier in (p for p in accepted if p.kind == "protect"):
                    self._answer(earlier, _superseded(pending))
                accepted = [p for p in accepted if p.kind != "protect"]
            accepted.append(pending)

        if not state.open:
            if state.live:
                await self._cancel(state)
            result = ProtectOutcome(status="closed", message="the position is closed")
            closed = True
        elif self._holds:
            if state.live:
                await self._cancel(state)
            await self._save(state, stop_loss, take_profit, "pending")
            result = ProtectOutcome(
                status="held",
                message="stop-loss / take-profit saved: they are lifted while a sell uses the"
                " quantity and placed again for what is left once it is done",
                stop_loss=stop_loss,
                take_profit=take_profit,
            )
            closed = False
        else:
            result = await self._converge(state, stop_loss, take_profit)
            closed = result.status == "closed"
        for pending in accepted:
            if pending.kind == "hold":
                self._answer(
                    pending, HoldOutcome(held=state.open and not closed, message=result.message)
                )
            else:
                self._answer(pending, result)
        return closed

    async def _converge(
        self, state: ProtectionState, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> ProtectOutcome:
        wanted = [
            Leg(type=leg.type, stop_price=_tick(leg.stop_price, state))
            for leg in wanted_legs(stop_loss, take_profit)
        ]
        problem = price_problem(stop_loss, take_profit, state.price)
        if problem is not None and not legs_match(state.live, wanted, state.quantity):
            # Prices set with a buy are checked only now, against the market after its fill:
            # a stop above the market would sell at once. Whatever is live stays live.
            message = f"{problem}: not placed"
            await self._save(
                state, stop_loss, take_profit, "protected" if state.live else "unprotected", message
            )
            return ProtectOutcome(status="rejected", message=message)
        if wanted and state.quantity < state.min_quantity:
            if state.live:
                await self._cancel(state)
            message = (
                "a resting sell order holds the position's quantity: its stop-loss /"
                " take-profit are placed again if that order is cancelled"
            )
            await self._save(state, stop_loss, take_profit, "pending")
            return ProtectOutcome(
                status="waiting", message=message, stop_loss=stop_loss, take_profit=take_profit
            )
        if legs_match(state.live, wanted, state.quantity):
            await self._save(state, stop_loss, take_profit, "protected" if wanted else "none")
            return _applied(wanted, state, stop_loss, take_profit)
        previous = [Leg(type=leg.type, stop_price=leg.stop_price) for leg in state.live]
        if state.live:
            await self._cancel(state)
            # One of them may have filled before the cancel reached it.
            state = await self._refresh_state()
            if not state.open:
                await self._save(state, stop_loss, take_profit, "none")
                return ProtectOutcome(status="closed", message="the position is closed")
        if not wanted:
            await self._save(state, None, None, "none")
            return _applied(wanted, state, None, None)
        error = await self._place(state, wanted)
        if error is None:
            await self._save(state, stop_loss, take_profit, "protected")
            return _applied(wanted, state, stop_loss, take_profit)
        # Refused: put the previous protection back rather than leave the position bare.
        restore_error = await self._place(state, previous) if previous else error
        if previous and restore_error is None:
            old_stop = next((leg.stop_price for leg in previous if leg.type == "stop_loss"), None)
            old_take = next((leg.stop_price for leg in previous if leg.type == "take_profit"), None)
            message = (
                f"new {describe_legs(wanted, state.quantity, state.base)} refused: {error};"
                f" the previous {describe_legs(previous, state.quantity, state.base)} were"
                " placed again, the position is still protected"
            )
            await self._save(state, old_stop, old_take, "protected", message)
            return ProtectOutcome(
                status="restored", message=message, stop_loss=old_stop, take_profit=old_take
            )
        message = (
            f"{describe_legs(wanted, state.quantity, state.base)} refused: {error};"
            " THE POSITION IS NOT PROTECTED"
        )
        await self._save(state, stop_loss, take_profit, "unprotected", message)
        return ProtectOutcome(
            status="unprotected", message=message, stop_loss=stop_loss, take_profit=take_profit
        )

    # -- activities ----------------------------------------------------------------------

    async def _refresh_state(self) -> ProtectionState:
        return await workflow.execute_activity_method(
            ProtectionActivities.refresh_protection, self._position_id, **EXCHANGE
        )

    async def _cancel(self, state: ProtectionState) -> None:
        self._lifted = True
        await workflow.execute_activity_method(
            ProtectionActivities.cancel_protection,
            CancelLegs(
                position_id=self._position_id, order_ids=[leg.order_id for leg in state.live]
            ),
            **EXCHANGE,
        )

    async def _place(self, state: ProtectionState, legs: list[Leg]) -> str | None:
        """Places the legs; the exchange's refusal as text (None when placed)."""
        assert self._seq is not None
        self._seq += 1
        both = {leg.type for leg in legs} == {"stop_loss", "take_profit"}
        try:
            await workflow.execute_activity_method(
                ProtectionActivities.place_protection,
                PlaceLegs(
                    position_id=self._position_id,
                    seq=self._seq,
                    legs=legs,
                    quantity=state.quantity,
                    oco=state.oco and both,
                ),
                **EXCHANGE,
            )
        except ActivityError as error:
            if not is_business_failure(error):
                raise
            # A leg placed before another was refused must not stay alone.
            placed = await self._refresh_state()
            if placed.live:
                await self._cancel(placed)
            return failure_message(error)
        return None

    async def _save(
        self,
        state: ProtectionState,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        protection: str,
        error: str | None = None,
    ) -> None:
        saved = await workflow.execute_local_activity_method(
            ProtectionActivities.save_protection,
            SaveProtection(
                position_id=state.position_id,
                read_stop_loss=state.stop_loss,
                read_take_profit=state.take_profit,
                stop_loss=stop_loss,
                take_profit=take_profit,
                protection=protection,
                error=error,
            ),
            **DATABASE,
        )
        if not saved:
            # A buy's fill set new prices since this batch read them: converge again.
            self._refresh = True

    def _fail(self, batch: list[_Pending], reason: str) -> None:
        message = f"stop-loss / take-profit not updated: {reason}"
        for pending in batch:
            if pending.request_id in self._answered:
                continue
            if pending.kind == "hold":
                self._holds.pop(pending.request_id, None)
                self._answer(pending, HoldOutcome(held=False, message=message))
            else:
                self._answer(pending, ProtectOutcome(status="failed", message=message))

    def _answer(self, pending: _Pending, answer: BaseModel) -> None:
        self._answered.add(pending.request_id)
        self._answers[pending.request_id] = answer


def _merge(
    request: ProtectRequest, stop_loss: Decimal | None, take_profit: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    if request.replace_both:
        return request.stop_loss, request.take_profit
    return (
        request.stop_loss if request.stop_loss is not None else stop_loss,
        request.take_profit if request.take_profit is not None else take_profit,
    )


def _tick(price: Decimal, state: ProtectionState) -> Decimal:
    """Sell-side trigger prices are rounded up to the tick, as the connectors send them."""
    rounded = floor_to_step(price, state.price_tick)
    return rounded + state.price_tick if rounded < price else rounded


def _applied(
    legs: list[Leg],
    state: ProtectionState,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> ProtectOutcome:
    if not legs:
        return ProtectOutcome(status="none", message="no stop-loss or take-profit")
    return ProtectOutcome(
        status="applied",
        message=f"{describe_legs(legs, state.quantity, state.base)} live on the exchange",
        stop_loss=stop_loss,
        take_profit=take_profit,
    )


def _superseded(later: _Pending) -> ProtectOutcome:
    return ProtectOutcome(
        status="superseded",
        message=f"replaced by a later update ({later.request_id}) before it was placed",
    )
