-- Accounting's tables. Every statement is idempotent, so the whole file is
-- applied at each start (or by `gateway migrate accounting`) under an advisory lock.

CREATE SCHEMA IF NOT EXISTS accounting;

CREATE TABLE IF NOT EXISTS accounting.projects (
    id               text PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    timezone         text NOT NULL DEFAULT 'UTC',
    daily_budget_usd numeric,
    disabled         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS accounting.credentials (
    id            text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('api_key', 'admin_token')),
    project_id    text REFERENCES accounting.projects (id),
    name          text,
    -- SHA-256 of the secret; the secret itself is shown once and never stored.
    secret_sha256 text NOT NULL UNIQUE,
    -- The first characters of the secret, to tell keys apart in listings.
    secret_prefix text NOT NULL,
    -- Optional daily cap of this key alone, within its project's cap.
    daily_budget_usd numeric,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CHECK ((kind = 'api_key') = (project_id IS NOT NULL))
);

-- One row per counted request: the primary key makes a redelivered usage
-- event a no-op.
CREATE TABLE IF NOT EXISTS accounting.usage_records (
    request_id        text PRIMARY KEY,
    project_id        text NOT NULL,
    key_id            text NOT NULL,
    model             text NOT NULL,
    status            text NOT NULL,
    day               date NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cost_usd          numeric NOT NULL,
    started_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_records_started_at ON accounting.usage_records (started_at);

-- Spend per project, day (in the project's time zone) and model.
CREATE TABLE IF NOT EXISTS accounting.daily_spend (
    project_id        text NOT NULL,
    day               date NOT NULL,
    model             text NOT NULL,
    requests          bigint NOT NULL,
    errors            bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cost_usd          numeric NOT NULL,
    PRIMARY KEY (project_id, day, model)
);

-- Budgets. Columns added after the first release are added here, so that
-- the file brings an older database up to date.
ALTER TABLE accounting.projects
    ADD COLUMN IF NOT EXISTS budget_alert_threshold numeric NOT NULL DEFAULT 0.8;

-- The worst-case cost the edge reserved for the request, per budget; the
-- daily sums tell the edges how much of their reservations has settled.
ALTER TABLE accounting.usage_records
    ADD COLUMN IF NOT EXISTS reserved_project_usd numeric NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS reserved_key_usd numeric NOT NULL DEFAULT 0;
ALTER TABLE accounting.daily_spend
    ADD COLUMN IF NOT EXISTS reserved_usd numeric NOT NULL DEFAULT 0;

-- Spend per API key and day (in its project's time zone), for key caps.
CREATE TABLE IF NOT EXISTS accounting.key_daily_spend (
    key_id       text NOT NULL,
    day          date NOT NULL,
    project_id   text NOT NULL,
    requests     bigint NOT NULL,
    cost_usd     numeric NOT NULL,
    reserved_usd numeric NOT NULL,
    PRIMARY KEY (key_id, day)
);

-- Usage rows recorded here and not yet confirmed in ClickHouse, one row per
-- ingested batch. A block is inserted into ClickHouse with its token as the
-- deduplication token, so retrying a block after a crash adds nothing twice.
CREATE TABLE IF NOT EXISTS accounting.analytics_outbox (
    token      text PRIMARY KEY,
    events     integer NOT NULL,
    -- JSONEachRow lines for gateway.usage_events.
    rows       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Failed inserts of the block; see accounting.analytics_rejected.
ALTER TABLE accounting.analytics_outbox ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;

-- Outbox blocks that ClickHouse rejected again and again while it took other
-- blocks, moved aside so that they hold back no later block. PostgreSQL's
-- spend already counts them; an operator fixes the rows and moves them back.
CREATE TABLE IF NOT EXISTS accounting.analytics_rejected (
    token       text PRIMARY KEY,
    events      integer NOT NULL,
    rows        bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    -- ClickHouse's error for the last attempt; usage rows hold no message content.
    error       text NOT NULL
);

-- One budget threshold event per project and budget day.
CREATE TABLE IF NOT EXISTS accounting.budget_alerts (
    project_id text NOT NULL,
    day        date NOT NULL,
    threshold  numeric NOT NULL,
    cap_usd    numeric NOT NULL,
    spent_usd  numeric NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, day)
);
