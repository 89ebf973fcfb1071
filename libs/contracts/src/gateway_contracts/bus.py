"""The NATS topology: subjects, queue groups, JetStream streams and KV buckets.

Every service builds its subscriptions from these names, so a rename here is a
wire change: bump the version suffix of an event subject rather than reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Edge -> router: a request whose reply subject receives a stream of frames.
ROUTER_CHAT = "gateway.router.chat"
ROUTER_QUEUE = "router"
# Fan-out to every router replica; only the one running the request acts.
ROUTER_CANCEL = "gateway.router.cancel"
# Queue-group request that any live router replies to, for the edge's readiness.
ROUTER_PING = "gateway.router.ping"

SESSIONS_HISTORY = "gateway.sessions.history"
# Calls of the `/v1/sessions` API and of the admin API's retention setting.
SESSIONS_LIST = "gateway.sessions.list"
SESSIONS_GET = "gateway.sessions.get"
SESSIONS_PATH = "gateway.sessions.path"
SESSIONS_DELETE = "gateway.sessions.delete"
SESSIONS_RETENTION_GET = "gateway.sessions.retention.get"
SESSIONS_RETENTION_SET = "gateway.sessions.retention.set"
SESSIONS_QUEUE = "sessions"

ACCOUNTING_USAGE_REPORT = "gateway.accounting.usage.report"
ACCOUNTING_BOOTSTRAP = "gateway.accounting.bootstrap"
# Admin calls, one subject per operation.
ADMIN_PROJECT_CREATE = "gateway.accounting.admin.project.create"
ADMIN_PROJECT_LIST = "gateway.accounting.admin.project.list"
ADMIN_PROJECT_GET = "gateway.accounting.admin.project.get"
ADMIN_PROJECT_UPDATE = "gateway.accounting.admin.project.update"
ADMIN_KEY_CREATE = "gateway.accounting.admin.key.create"
ADMIN_KEY_LIST = "gateway.accounting.admin.key.list"
ADMIN_KEY_REVOKE = "gateway.accounting.admin.key.revoke"
ADMIN_KEY_UPDATE = "gateway.accounting.admin.key.update"
ADMIN_PROJECT_BUDGET = "gateway.accounting.admin.project.budget"
ADMIN_PROJECT_RECONCILE = "gateway.accounting.admin.project.reconcile"
# Analytics of one project, for its own keys and for admins.
ACCOUNTING_ANALYTICS = "gateway.accounting.analytics"
# The newest requests of one project, for its own keys and for admins.
ACCOUNTING_RECENT_REQUESTS = "gateway.accounting.requests.recent"
ACCOUNTING_QUEUE = "accounting"

# Catalog administration, handled by the catalog service, one subject per operation.
CATALOG_MODEL_CREATE = "gateway.catalog.admin.model.create"
CATALOG_MODEL_LIST = "gateway.catalog.admin.model.list"
CATALOG_MODEL_GET = "gateway.catalog.admin.model.get"
CATALOG_MODEL_UPDATE = "gateway.catalog.admin.model.update"
CATALOG_MODEL_RETIRE = "gateway.catalog.admin.model.retire"
CATALOG_PRICE_ADD = "gateway.catalog.admin.price.add"
CATALOG_PRICE_DELETE = "gateway.catalog.admin.price.delete"
CATALOG_ALIAS_SET = "gateway.catalog.admin.alias.set"
CATALOG_ALIAS_LIST = "gateway.catalog.admin.alias.list"
CATALOG_ALIAS_DELETE = "gateway.catalog.admin.alias.delete"
CATALOG_QUEUE = "catalog"

# Internal events: the router tells accounting and the sessions service what
# a request did. Their payloads (`events.UsageEvent`, `events.SessionTurnsEvent`,
# `events.BudgetThresholdEvent`) keep their current shape for the services
# that read them; subscribers read the public events below instead.
USAGE_EVENT_SUBJECT = "gateway.events.usage.v1"
BUDGET_EVENT_SUBJECT = "gateway.events.budget.v1"
# Session events go to one subject per session under this prefix (see
# `gateway_contracts.sessions.session_event_subject`), so that one session's
# events can be read back in order, or purged, without the others.
SESSION_EVENT_PREFIX = "gateway.events.session.v2"
SESSION_EVENT_SUBJECTS = f"{SESSION_EVENT_PREFIX}.>"

# Public events, one subject per schema name and version (see
# `gateway_contracts.public_events`). A new version gets a new subject and is
# published next to the old one while the old one is deprecated.
USAGE_RECORDED_SUBJECT = "gateway.events.usage.recorded.v1"
BUDGET_THRESHOLD_CROSSED_SUBJECT = "gateway.events.budget.threshold_crossed.v1"
BUDGET_EXHAUSTED_SUBJECT = "gateway.events.budget.exhausted.v1"
# One subject per session under this prefix, like the internal session events.
SESSION_TURN_APPENDED_PREFIX = "gateway.events.session.turn_appended.v1"
SESSION_TURN_APPENDED_SUBJECTS = f"{SESSION_TURN_APPENDED_PREFIX}.>"
SESSION_DELETED_SUBJECT = "gateway.events.session.deleted.v1"
API_KEY_CREATED_SUBJECT = "gateway.events.api_key.created.v1"
API_KEY_REVOKED_SUBJECT = "gateway.events.api_key.revoked.v1"
PROJECT_BUDGET_CHANGED_SUBJECT = "gateway.events.project.budget_changed.v1"
CATALOG_ENTRY_CHANGED_SUBJECT = "gateway.events.catalog.entry_changed.v1"

_MIB = 1024 * 1024
_DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream with limits retention: JetStream drops the oldest message past either limit.

    The limits bound what a subscriber that is down can catch up on, and
    they apply to the gateway's own consumers too. Every service creates
    the streams it publishes to with the same spec, and the replicas that
    `GATEWAY_NATS_REPLICAS` sets (3 on a clustered NATS, 1 on one server).
    """

    name: str
    subjects: tuple[str, ...]
    # The services that publish to the stream.
    publishers: tuple[str, ...]
    # Seconds a message stays in the stream, whether consumers acked it or not.
    max_age_seconds: int
    # Bytes the stream keeps at most; -1 for no limit.
    max_bytes: int
    # Window in which JetStream drops a republished message with the same
    # `Nats-Msg-Id`, so that a producer's retry is not a second event.
    duplicate_window_seconds: int = 300


USAGE_STREAM = StreamSpec(
    name="GATEWAY_USAGE",
    subjects=("gateway.events.usage.>",),
    publishers=("router", "accounting"),
    max_age_seconds=7 * _DAY,
    max_bytes=1024 * _MIB,
)
SESSION_STREAM = StreamSpec(
    name="GATEWAY_SESSIONS",
    subjects=("gateway.events.session.>",),
    publishers=("router", "sessions"),
    max_age_seconds=7 * _DAY,
    max_bytes=1024 * _MIB,
)
# Budget events, for subscribers that alert.
BUDGET_STREAM = StreamSpec(
    name="GATEWAY_BUDGET",
    subjects=("gateway.events.budget.>",),
    publishers=("accounting",),
    max_age_seconds=30 * _DAY,
    max_bytes=64 * _MIB,
)
# Changes to projects and API keys.
ACCOUNTS_STREAM = StreamSpec(
    name="GATEWAY_ACCOUNTS",
    subjects=("gateway.events.api_key.>", "gateway.events.project.>"),
    publishers=("accounting",),
    max_age_seconds=30 * _DAY,
    max_bytes=64 * _MIB,
)
CATALOG_STREAM = StreamSpec(
    name="GATEWAY_CATALOG",
    subjects=("gateway.events.catalog.>",),
    publishers=("catalog",),
    max_age_seconds=30 * _DAY,
    max_bytes=64 * _MIB,
)
STREAMS = (USAGE_STREAM, SESSION_STREAM, BUDGET_STREAM, ACCOUNTS_STREAM, CATALOG_STREAM)

ACCOUNTING_USAGE_CONSUMER = "accounting-usage"
SESSIONS_TURNS_CONSUMER = "sessions-turns-v2"


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A NATS KV bucket, written by exactly one owner service."""

    name: str
    owner: str
    history: int = 1
    # Seconds a key lives after its last write; None keeps keys until deleted.
    ttl_seconds: int | None = None


# Key: SHA-256 hex digest of a credential. Value: `CredentialRecord`.
AUTH_BUCKET = BucketSpec(name="gateway_auth", owner="accounting")
# Key: `catalog_key(model_id)`. Value: `CatalogEntry`.
CATALOG_BUCKET = BucketSpec(name="gateway_catalog", owner="catalog")
# Key: the alias name. Value: `ModelAlias`.
ALIAS_BUCKET = BucketSpec(name="gateway_model_aliases", owner="catalog")
# Key: provider name. Value: `ProviderStatus`.
PROVIDERS_BUCKET = BucketSpec(name="gateway_providers", owner="router")
# Key: project id. Value: `BudgetRecord`, for projects with a cap or a capped key.
BUDGET_BUCKET = BucketSpec(name="gateway_budgets", owner="accounting")
# Key: `ledger_key(project_id, day)`. Value: `LedgerRecord`, changed only by
# compare-and-set. A day's key is no longer written once the day is over, so
# it expires. Three days cover every time zone's day and a late request.
LEDGER_BUCKET = BucketSpec(name="gateway_budget_ledger", owner="edge", ttl_seconds=3 * 24 * 3600)
BUCKETS = (AUTH_BUCKET, CATALOG_BUCKET, ALIAS_BUCKET, PROVIDERS_BUCKET, BUDGET_BUCKET, LEDGER_BUCKET)

# Object store for request bodies larger than the server's max_payload. The
# edge writes the body under the request id and the router deletes it once read.
PAYLOAD_OBJECT_STORE = "gateway_payloads"
PAYLOAD_TTL_SECONDS = 15 * 60
