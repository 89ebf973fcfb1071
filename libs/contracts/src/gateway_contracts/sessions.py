"""Server-side sessions: turn ids, event subjects and the sessions service's call bodies.

A session is a tree of turns. Each turn is one message and names the turn it
follows (`parent_turn_id`). A branch is a chain of turns that forks from an
earlier turn of another branch. History reads, the `/v1/sessions` API and the
admin API's retention setting reach the sessions service over NATS
request/reply on the subjects in `bus`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway_contracts import bus
from gateway_contracts.events import RequestStatus

# Turn ids derive from the request id, so that a republished session event
# carries the same ids and the sessions service stores each turn once.
_TURN_NAMESPACE = uuid.UUID("6f1c7f0e-4b7a-4e53-9c55-2f3f1d1f9a10")

SessionTruncation = Literal["oldest"]


def turn_id(request_id: str, index: int) -> str:
    """Return the id of the `index`-th turn (0-based) that request `request_id` appends."""
    return str(uuid.uuid5(_TURN_NAMESPACE, f"{request_id}:{index}"))


def session_event_subject(project_id: str, session_id: str) -> str:
    """Return the subject that carries the session's events.

    Session ids may contain `.`, which separates subject tokens, so the
    subject ends in a digest of the project and session ids instead.
    """
    return f"{bus.SESSION_EVENT_PREFIX}.{_session_digest(project_id, session_id)}"


def session_turn_subject(project_id: str, session_id: str) -> str:
    """Return the subject of the session's public `SessionTurnAppended` events."""
    return f"{bus.SESSION_TURN_APPENDED_PREFIX}.{_session_digest(project_id, session_id)}"


def _session_digest(project_id: str, session_id: str) -> str:
    return hashlib.sha256(f"{project_id}\0{session_id}".encode()).hexdigest()[:40]


class Turn(BaseModel):
    """One stored message of a session."""

    model_config = ConfigDict(extra="forbid")

    id: str
    # None for the first turn of a session, and for a turn whose parent was
    # deleted by the project's retention setting.
    parent_turn_id: str | None
    branch_id: str
    role: str
    # The message as it is sent upstream in later requests.
    message: dict[str, Any]
    request_id: str
    model: str
    status: RequestStatus
    # False for turns of a failed request, and of a request cancelled before
    # any output: they are kept for the record but not sent upstream again.
    in_context: bool
    created_at: datetime
    # On a reply: the parameters of the request that produced it, besides its
    # messages (tools, temperature, thinking and the like).
    request_options: dict[str, Any] | None = None


class Branch(BaseModel):
    """A chain of turns; read as a conversation, it runs from the session's first turn to `head_turn_id`."""

    model_config = ConfigDict(extra="forbid")

    # The id of the branch's first turn.
    id: str
    head_turn_id: str
    # The turn of another branch that this one continues from; None for the
    # branch that starts the session.
    base_turn_id: str | None
    # Turns in this branch alone, not counting those it shares with others.
    turn_count: int
    model: str
    created_at: datetime
    updated_at: datetime


class SessionSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    # The turn that a request without `parent_turn_id` continues from.
    head_turn_id: str | None
    turn_count: int
    branch_count: int
    created_at: datetime
    updated_at: datetime


class SessionDetail(SessionSummary):
    """A session with every turn, in the order they were stored, and its branches."""

    turns: list[Turn]
    branches: list[Branch]


class SessionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    session_id: str


class PathRequest(SessionRef):
    """Ask for the turns from the session's first turn to `turn_id`, to a branch's head, or to the session's head."""

    turn_id: str | None = None
    branch_id: str | None = None


class SessionPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str
    turns: list[Turn]


class SessionListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    limit: int = Field(default=20, ge=1, le=100)
    # A session id: list the sessions that come after it, newest first.
    after: str | None = None


class SessionList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[SessionSummary]
    has_more: bool


class SessionDeleted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    deleted_turns: int


class RetentionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str


class RetentionSetting(BaseModel):
    """How long a project's turns are kept; None keeps them until their session is deleted."""

    model_config = ConfigDict(extra="forbid")

    project_id: str
    days: int | None = Field(default=None, ge=1, le=36_500)


class RetentionApplied(RetentionSetting):
    # Turns deleted at once because they were older than the new setting.
    deleted_turns: int = 0
