"""A session's events as the JetStream stream contains them, read back by subject in stream order.

Each session has its own subject, so the events of one session that are not
stored yet can be read without the consumer: a history read stores them
first (the client then sees the reply it just received), and the consumer
stores a session's earlier events before a later one, whichever sessions
replica got which message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from gateway_contracts import SessionTurnsEvent, bus
from gateway_contracts.sessions import session_event_subject, session_turn_subject
from gateway_sessions.announcements import Announcer

logger = logging.getLogger("gateway_sessions.events")

# Events read back in one call. A session has more unstored events than this
# only when the consumer has been down; the rest are read by the next call.
MAX_EVENTS_PER_READ = 500
_SETTLE_POLL_SECONDS = 0.02


class EventLog:
    def __init__(self, js: JetStreamContext, announcer: Announcer | None = None) -> None:
        self._js = js
        # Publishes the public events of what the service stores and deletes.
        self.announcer = announcer

    async def last_seq(self, project_id: str, session_id: str) -> int:
        """Return the stream sequence of the session's newest event, or 0 when the stream has none."""
        subject = session_event_subject(project_id, session_id)
        try:
            message = await self._js.get_last_msg(bus.SESSION_STREAM.name, subject)
        except NotFoundError:
            return 0
        return message.seq or 0

    async def after(
        self, project_id: str, session_id: str, seq: int, before: int | None = None
    ) -> AsyncIterator[tuple[int, SessionTurnsEvent | None]]:
        """Yield the session's events with a stream sequence above `seq` (and below `before`), oldest first.

        An event that does not validate is yielded as None, so that the
        caller can move past its sequence.
        """
        subject = session_event_subject(project_id, session_id)
        next_seq = seq + 1
        for _ in range(MAX_EVENTS_PER_READ):
            if before is not None and next_seq >= before:
                return
            try:
                raw = await self._js.get_msg(bus.SESSION_STREAM.name, seq=next_seq, subject=subject, next=True)
            except NotFoundError:
                return
            if raw.seq is None or (before is not None and raw.seq >= before):
                return
            next_seq = raw.seq + 1
            event: SessionTurnsEvent | None = None
            try:
                event = SessionTurnsEvent.model_validate_json(raw.data or b"")
            except ValidationError:
                logger.error("Skipped the invalid session event at stream sequence %d", raw.seq, exc_info=True)
            yield raw.seq, event

    async def settle(self, timeout: float) -> None:
        """Wait, up to `timeout` seconds, until the turns consumer has stored every event in the stream.

        Reads that span many sessions call this instead of storing each
        session's events themselves.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = await self._js.consumer_info(bus.SESSION_STREAM.name, bus.SESSIONS_TURNS_CONSUMER)
            if not info.num_pending and not info.num_ack_pending:
                return
            if time.monotonic() >= deadline:
                logger.warning("The turns consumer still had events to store after %.1f s", timeout)
                return
            await asyncio.sleep(_SETTLE_POLL_SECONDS)

    async def purge(self, project_id: str, session_id: str) -> None:
        """Remove the session's events, internal and public, and the message content in them, from the stream."""
        await self._js.purge_stream(bus.SESSION_STREAM.name, subject=session_event_subject(project_id, session_id))
        await self._js.purge_stream(bus.SESSION_STREAM.name, subject=session_turn_subject(project_id, session_id))
