"""The budget gate: reserve a request's worst-case cost before it runs, or reject it with 402.

A project without a budget record costs one dictionary lookup. For a capped
project the edge adds the request's worst case to the project's ledger for
the budget day, a `LedgerRecord` in `bus.LEDGER_BUCKET`, with a
compare-and-set on the key's revision, and admits the request only if the
cap still covers it. Every edge replica writes the same key, so their
admissions are serialized by JetStream and never add up past the cap.

Requests that arrive while a write to the same key is in flight are
committed together in the next write, so a busy project costs one
round trip per batch rather than per request. Accounting settles a
reservation when it records the request's usage event, which carries the
reserved amount; the edge never gives a reservation back itself, except
for a request that never reached a router.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from gateway_contracts import BudgetRecord, LedgerRecord, ledger_key
from gateway_contracts.budget import Standing, budget_day, resets_at, standing
from gateway_contracts.exhaustion import announce_exhausted, exhausted_event_id
from gateway_contracts.kv import BucketMirror
from gateway_contracts.money import plain_decimal
from gateway_contracts.public_events import BudgetExhausted
from gateway_contracts.publishing import build_event
from gateway_edge.errors import EdgeError

# The remaining budget of the tightest cap that applies, sent on every response of a capped project.
BUDGET_HEADER = "x-gateway-budget-remaining-usd"

logger = logging.getLogger("gateway_edge.budgets")

_ZERO = Decimal(0)
# Compare-and-set attempts before a batch of requests fails with 503; each
# failed attempt means another edge wrote the same key in between.
_MAX_ATTEMPTS = 20
_WRITE_TIMEOUT_SECONDS = 5.0

Scope = Literal["project", "key"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """The amounts one admitted request reserves against its budgets until accounting records it."""

    project_id: str
    day: date
    project_usd: Decimal
    key_id: str
    key_usd: Decimal
    # The smallest remaining budget after this reservation, for the response header.
    remaining_usd: Decimal


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request fits, and the standing of the cap that decided."""

    admitted: bool
    scope: Scope | None
    standing: Standing | None
    remaining: Decimal | None


@dataclass(slots=True)
class _Claim:
    key_id: str
    amount: Decimal
    # A negative claim gives a reservation back and is never refused.
    release: bool = False
    future: asyncio.Future[Verdict] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class BudgetGate:
    def __init__(self, records: BucketMirror[BudgetRecord], ledger: KeyValue, js: JetStreamContext) -> None:
        self._records = records
        self._ledger = ledger
        self._js = js
        self._writers: dict[str, _LedgerWriter] = {}
        # (project, budget day, key id or None) of the caps whose budget.exhausted this edge published.
        self._exhausted: set[tuple[str, date, str | None]] = set()
        self._announcements: set[asyncio.Task[None]] = set()

    def record(self, project_id: str) -> BudgetRecord | None:
        """Return the project's budget record; None means neither the project nor any of its keys has a cap."""
        return self._records.get(project_id)

    async def evaluate(self, record: BudgetRecord, key_id: str, amount: Decimal, received_at: float) -> Verdict:
        """Check whether `amount` fits now; reserves nothing, so a later request may still be rejected."""
        day = budget_day(record.timezone, received_at)
        try:
            entry = await self._ledger.get(ledger_key(record.project_id, day))
            ledger = LedgerRecord.model_validate_json(entry.value) if entry.value else LedgerRecord()
        except KeyNotFoundError:
            ledger = LedgerRecord()
        return _judge(record, day, key_id, amount, ledger)

    async def reserve(self, record: BudgetRecord, key_id: str, amount: Decimal, received_at: float) -> Reservation:
        """Reserve `amount` on the request's budget day, or raise a 402 `EdgeError` stating the cap."""
        day = budget_day(record.timezone, received_at)
        verdict = await self._writer(record.project_id, day).submit(_Claim(key_id=key_id, amount=amount))
        if not verdict.admitted:
            self._announce_exhausted(record, day, verdict, key_id if verdict.scope == "key" else None)
            raise budget_exceeded(record, day, amount, verdict)
        assert verdict.remaining is not None
        key_capped = key_id in record.keys
        return Reservation(
            project_id=record.project_id,
            day=day,
            project_usd=amount if record.cap_usd is not None else _ZERO,
            key_id=key_id,
            key_usd=amount if key_capped else _ZERO,
            remaining_usd=verdict.remaining,
        )

    async def release(self, reservation: Reservation) -> None:
        """Give back the reservation of a request that no router received."""
        claim = _Claim(
            key_id=reservation.key_id, amount=max(reservation.project_usd, reservation.key_usd), release=True
        )
        try:
            await self._writer(reservation.project_id, reservation.day).submit(claim)
        except EdgeError:
            logger.warning("Could not release the reservation of a request in project %s", reservation.project_id)

    def _announce_exhausted(self, record: BudgetRecord, day: date, verdict: Verdict, key_id: str | None) -> None:
        """Publish the day's `budget.exhausted` of the cap in the background; the 402 never waits for it.

        `key_id` names the key whose own cap ran out, or is None for the project's cap.
        """
        cap = (record.project_id, day, key_id)
        if cap in self._exhausted:
            return
        assert verdict.standing is not None
        # Entries of past days are no longer needed.
        self._exhausted = {entry for entry in self._exhausted if entry[1] >= day - timedelta(days=1)}
        self._exhausted.add(cap)
        event = build_event(
            BudgetExhausted,
            event_id=exhausted_event_id(record.project_id, day, key_id),
            key_id=key_id,
            project_id=record.project_id,
            day=day,
            timezone=record.timezone,
            cap_usd=verdict.standing.cap,
            spent_usd=verdict.standing.spent,
            resets_at=resets_at(record.timezone, day),
        )
        task = asyncio.create_task(self._publish_exhausted(event), name=f"exhausted-{record.project_id}")
        self._announcements.add(task)
        task.add_done_callback(self._announcements.discard)

    async def _publish_exhausted(self, event: BudgetExhausted) -> None:
        assert event.project_id is not None
        try:
            await asyncio.wait_for(announce_exhausted(self._js, self._ledger, event), _WRITE_TIMEOUT_SECONDS)
        except Exception:
            # The next rejection of the project tries again.
            self._exhausted.discard((event.project_id, event.day, event.key_id))
            logger.error("Publishing budget.exhausted of project %s failed", event.project_id, exc_info=True)

    def _writer(self, project_id: str, day: date) -> _LedgerWriter:
        key = ledger_key(project_id, day)
        writer = self._writers.get(key)
        if writer is None:
            # Yesterday's writers are no longer needed once a new day starts.
            stale = [name for name, old in self._writers.items() if old.day < day and not old.busy]
            for name in stale:
                del self._writers[name]
            writer = _LedgerWriter(self, key, project_id, day)
            self._writers[key] = writer
        return writer


class _LedgerWriter:
    """Serializes this edge's writes to one ledger key and commits waiting claims in batches."""

    def __init__(self, gate: BudgetGate, key: str, project_id: str, day: date) -> None:
        self.day = day
        self.value: LedgerRecord | None = None
        self._gate = gate
        self._key = key
        self._project_id = project_id
        self._revision = 0
        self._pending: list[_Claim] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    async def submit(self, claim: _Claim) -> Verdict:
        self._pending.append(claim)
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=f"ledger-{self._key}")
        return await claim.future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.wait_for(self._commit(batch), _WRITE_TIMEOUT_SECONDS)
                except Exception as error:
                    logger.error("Reserving budget in %s failed", self._key, exc_info=True)
                    self.value = None
                    failure = EdgeError(
                        "service_unavailable",
                        f"The budget of this project could not be checked ({type(error).__name__}); retry shortly.",
                    )
                    for claim in batch:
                        if not claim.future.done():
                            claim.future.set_exception(failure)
        finally:
            self._task = None

    async def _commit(self, batch: list[_Claim]) -> None:
        for _attempt in range(_MAX_ATTEMPTS):
            if self.value is None:
                await self._load()
            assert self.value is not None
            record = self._gate.record(self._project_id)
            updated, verdicts = _apply(record, self.day, self.value, batch)
            if updated is None:
                _resolve(batch, verdicts)
                return
            try:
                self._revision = await self._gate._ledger.update(
                    self._key, updated.model_dump_json().encode(), last=self._revision
                )
            except KeyWrongLastSequenceError:
                # Another edge wrote first: read its total and judge the batch again.
                self.value = None
                continue
            self.value = updated
            _resolve(batch, verdicts)
            return
        raise RuntimeError(f"the ledger key was changed by other edges {_MAX_ATTEMPTS} times in a row")

    async def _load(self) -> None:
        try:
            entry = await self._gate._ledger.get(self._key)
        except KeyNotFoundError:
            self.value, self._revision = LedgerRecord(), 0
            return
        self._revision = entry.revision or 0
        self.value = LedgerRecord.model_validate_json(entry.value) if entry.value else LedgerRecord()


def _apply(
    record: BudgetRecord | None, day: date, ledger: LedgerRecord, batch: list[_Claim]
) -> tuple[LedgerRecord | None, list[Verdict]]:
    """Judge each claim in order against the ledger and return the new ledger, or None when nothing changes."""
    reserved = ledger.reserved_usd
    keys = dict(ledger.keys)
    verdicts: list[Verdict] = []
    changed = False
    for claim in batch:
        if record is None:
            # The cap was removed while the claim waited: nothing to reserve against.
            verdicts.append(Verdict(admitted=True, scope=None, standing=None, remaining=None))
            continue
        key_capped = claim.key_id in record.keys
        if claim.release:
            if record.cap_usd is not None:
                reserved = max(reserved - claim.amount, _ZERO)
            if key_capped:
                keys[claim.key_id] = max(keys.get(claim.key_id, _ZERO) - claim.amount, _ZERO)
            verdicts.append(Verdict(admitted=True, scope=None, standing=None, remaining=None))
            changed = True
            continue
        verdict = _judge(record, day, claim.key_id, claim.amount, LedgerRecord(reserved_usd=reserved, keys=keys))
        verdicts.append(verdict)
        if not verdict.admitted:
            continue
        if record.cap_usd is not None:
            reserved += claim.amount
        if key_capped:
            keys[claim.key_id] = keys.get(claim.key_id, _ZERO) + claim.amount
        changed = True
    if not changed:
        return None, verdicts
    return LedgerRecord(reserved_usd=reserved, keys=keys), verdicts


def _judge(record: BudgetRecord, day: date, key_id: str, amount: Decimal, ledger: LedgerRecord) -> Verdict:
    remaining: Decimal | None = None
    if record.cap_usd is not None:
        project = standing(record.cap_usd, record.days.get(day), ledger.reserved_usd)
        if not project.admits(amount):
            return Verdict(admitted=False, scope="project", standing=project, remaining=project.remaining)
        remaining = project.remaining - amount
    key = record.keys.get(key_id)
    if key is not None:
        current = standing(key.cap_usd, key.days.get(day), ledger.keys.get(key_id, _ZERO))
        if not current.admits(amount):
            return Verdict(admitted=False, scope="key", standing=current, remaining=current.remaining)
        left = current.remaining - amount
        remaining = left if remaining is None else min(remaining, left)
    return Verdict(admitted=True, scope=None, standing=None, remaining=remaining)


def _resolve(batch: list[_Claim], verdicts: list[Verdict]) -> None:
    for claim, verdict in zip(batch, verdicts, strict=True):
        if not claim.future.done():
            claim.future.set_result(verdict)


def budget_exceeded(record: BudgetRecord, day: date, amount: Decimal, verdict: Verdict) -> EdgeError:
    """Build the 402 for a request that does not fit, stating the cap, the spend and the reset time."""
    assert verdict.standing is not None and verdict.scope is not None
    current = verdict.standing
    reset = resets_at(record.timezone, day)
    whose = f"project `{record.project_id}`" if verdict.scope == "project" else "this API key"
    message = (
        f"The daily budget of {whose} does not cover this request: the cap is ${_usd(current.cap)}, "
        f"${_usd(current.spent)} is spent today and ${_usd(current.in_flight)} is reserved by running requests, "
        f"leaving ${_usd(max(current.remaining, _ZERO))}, while this request may cost up to ${_usd(amount)}. "
        f"The budget resets at {reset.isoformat().replace('+00:00', 'Z')} (midnight {record.timezone}). "
        "Lower `max_tokens`, or ask an admin to raise the cap."
    )
    budget: dict[str, Any] = {
        "scope": verdict.scope,
        "cap_usd": _usd(current.cap),
        "spent_usd": _usd(current.spent),
        "reserved_usd": _usd(current.in_flight),
        # Clamped at 0, as in the message and in `GET /v1/budget`.
        "remaining_usd": _usd(max(current.remaining, _ZERO)),
        "request_max_cost_usd": _usd(amount),
        "day": day.isoformat(),
        "timezone": record.timezone,
        "resets_at": reset.isoformat().replace("+00:00", "Z"),
    }
    # The header says what is left before this request, as on an admitted response.
    headers = {BUDGET_HEADER: _usd(max(current.remaining, _ZERO))}
    return EdgeError("budget_exceeded", message, headers=headers, budget=budget)


def _usd(amount: Decimal) -> str:
    return plain_decimal(amount)
