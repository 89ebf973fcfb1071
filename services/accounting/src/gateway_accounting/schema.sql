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
