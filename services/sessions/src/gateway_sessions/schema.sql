-- Sessions' tables. Every statement is idempotent, so the whole file is
-- applied at each start (or by `gateway migrate sessions`) under an advisory lock.

CREATE SCHEMA IF NOT EXISTS sessions;

CREATE TABLE IF NOT EXISTS sessions.sessions (
    project_id text NOT NULL,
    id         text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

CREATE TABLE IF NOT EXISTS sessions.turns (
    id         uuid PRIMARY KEY,
    project_id text NOT NULL,
    session_id text NOT NULL,
    -- Order of appending: turns of requests that complete later come later.
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    role       text NOT NULL,
    message    jsonb NOT NULL,
    request_id text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, session_id) REFERENCES sessions.sessions (project_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS turns_by_session ON sessions.turns (project_id, session_id, seq);
