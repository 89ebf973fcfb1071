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
-- Stream sequence of the newest event of this session that is stored.
-- Events of one session are stored in stream order, so the ones after it
-- are those still to store (see `events.py`).
ALTER TABLE sessions.sessions ADD COLUMN IF NOT EXISTS last_event_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions.sessions (project_id, updated_at, id);

CREATE TABLE IF NOT EXISTS sessions.turns (
    id         uuid PRIMARY KEY,
    project_id text NOT NULL,
    session_id text NOT NULL,
    -- Order of storing: turns of requests that complete later come later.
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    role       text NOT NULL,
    -- json, not jsonb: the message goes back upstream as it was received
    -- (key order included), and json takes text with `\u0000` in it.
    message    json NOT NULL,
    request_id text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, session_id) REFERENCES sessions.sessions (project_id, id) ON DELETE CASCADE
);

DO $$
BEGIN
    IF EXISTS (
        SELECT FROM information_schema.columns
        WHERE table_schema = 'sessions' AND table_name = 'turns' AND column_name = 'message' AND data_type = 'jsonb'
    ) THEN
        ALTER TABLE sessions.turns ALTER COLUMN message TYPE json USING message::json;
    END IF;
END
$$;

-- The tree of turns, added to tables that predate it. A turn's branch is its
-- parent's when the parent had no other child, and a new one, named after
-- the turn, when it had; each branch is therefore a chain.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM information_schema.columns
        WHERE table_schema = 'sessions' AND table_name = 'turns' AND column_name = 'branch_id'
    ) THEN
        ALTER TABLE sessions.turns
            ADD COLUMN parent_turn_id uuid REFERENCES sessions.turns (id) ON DELETE SET NULL,
            ADD COLUMN branch_id uuid,
            ADD COLUMN model text NOT NULL DEFAULT '',
            ADD COLUMN in_context boolean NOT NULL DEFAULT true,
            ADD COLUMN tokens integer NOT NULL DEFAULT 0;
        -- Turns stored before branching existed form one chain per session.
        UPDATE sessions.turns AS t
        SET parent_turn_id = ordered.previous, branch_id = ordered.first
        FROM (
            SELECT id,
                   lag(id) OVER (PARTITION BY project_id, session_id ORDER BY seq) AS previous,
                   first_value(id) OVER (PARTITION BY project_id, session_id ORDER BY seq) AS first
            FROM sessions.turns
        ) AS ordered
        WHERE t.id = ordered.id;
        ALTER TABLE sessions.turns ALTER COLUMN branch_id SET NOT NULL;
    END IF;
END
$$;

-- History reads walk the tree from a turn to its root by primary key; these
-- find a session's newest turn, a turn's children and a project's old turns.
CREATE INDEX IF NOT EXISTS turns_by_session ON sessions.turns (project_id, session_id, seq);
CREATE INDEX IF NOT EXISTS turns_by_parent ON sessions.turns (parent_turn_id);
CREATE INDEX IF NOT EXISTS turns_by_age ON sessions.turns (project_id, created_at);

-- Sessions deleted recently. A request that started before the deletion and
-- ends after it must not bring the session back; rows older than the event
-- stream's max age can no longer matter and are removed by the retention sweep.
CREATE TABLE IF NOT EXISTS sessions.deleted_sessions (
    project_id text NOT NULL,
    session_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, session_id)
);

-- Per-project retention: turns older than `days` are deleted.
CREATE TABLE IF NOT EXISTS sessions.retention (
    project_id text PRIMARY KEY,
    days       integer NOT NULL CHECK (days > 0)
);

-- Identity of the event stream that `last_event_seq` counts in. A stream
-- created anew restarts its sequence at 1, so the counters are reset then.
CREATE TABLE IF NOT EXISTS sessions.event_stream (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    created_at timestamptz NOT NULL
);
