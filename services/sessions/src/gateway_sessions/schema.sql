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

-- The tree of turns, added to tables that predate it. A turn joins its
-- parent's branch when the parent had no other child. Otherwise it starts a
-- branch named after itself, so each branch is a chain.
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

-- On a reply: the parameters of the request that produced it, for replays.
ALTER TABLE sessions.turns ADD COLUMN IF NOT EXISTS request_options json;

-- History reads take each branch on the path with one range scan (see
-- `paths.py`). The other indexes find a session's newest turn, a turn's
-- children and a project's old turns.
CREATE INDEX IF NOT EXISTS turns_by_branch ON sessions.turns (project_id, session_id, branch_id, seq);
CREATE INDEX IF NOT EXISTS turns_by_session ON sessions.turns (project_id, session_id, seq);
CREATE INDEX IF NOT EXISTS turns_by_parent ON sessions.turns (parent_turn_id);
CREATE INDEX IF NOT EXISTS turns_by_age ON sessions.turns (project_id, created_at);

-- Sessions deleted recently. A request that started before the deletion and
-- ends after it must not bring the session back. Rows older than the event
-- stream's max age no longer matter, and the retention sweep removes them.
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

-- Store one request's turns as a chain, in one round trip; the caller holds
-- the session's lock. Returns how many turns it added: none when the turns
-- are stored already. Without `p_parent` the chain follows the session's
-- newest turn, which has no child yet, and extends its branch. With it, the
-- chain extends the parent's branch when the parent has no child yet, and
-- starts a branch named after its first turn otherwise. A parent that is
-- gone (deleted by retention) leaves the chain without one. `p_event_seq`
-- becomes the session's `last_event_seq`. `p_options`, when given, goes on
-- the last turn, the reply.
CREATE OR REPLACE FUNCTION sessions.store_turns(
    p_project_id text,
    p_session_id text,
    p_event_seq bigint,
    p_request_id text,
    p_model text,
    p_status text,
    p_parent uuid,
    p_in_context boolean,
    p_completed_at timestamptz,
    p_ids uuid[],
    p_roles text[],
    p_messages text[],
    p_tokens integer[],
    p_options text
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_parent uuid;
    v_branch uuid;
    v_has_child boolean := false;
BEGIN
    INSERT INTO sessions.sessions (project_id, id, created_at, updated_at, last_event_seq)
    VALUES (p_project_id, p_session_id, p_completed_at, p_completed_at, p_event_seq)
    ON CONFLICT (project_id, id) DO UPDATE SET
        updated_at = greatest(sessions.updated_at, EXCLUDED.updated_at),
        last_event_seq = greatest(sessions.last_event_seq, EXCLUDED.last_event_seq);
    IF EXISTS (SELECT FROM sessions.turns WHERE id = ANY (p_ids)) THEN
        RETURN 0;
    END IF;

    IF p_parent IS NULL THEN
        SELECT id, branch_id INTO v_parent, v_branch
        FROM sessions.turns WHERE project_id = p_project_id AND session_id = p_session_id
        ORDER BY seq DESC LIMIT 1;
    ELSE
        SELECT t.id, t.branch_id, EXISTS (SELECT FROM sessions.turns c WHERE c.parent_turn_id = t.id)
        INTO v_parent, v_branch, v_has_child
        FROM sessions.turns t
        WHERE t.id = p_parent AND t.project_id = p_project_id AND t.session_id = p_session_id;
        IF v_has_child THEN
            v_branch := NULL;
        END IF;
    END IF;

    INSERT INTO sessions.turns (
        id, project_id, session_id, parent_turn_id, branch_id, role, message,
        request_id, status, model, in_context, tokens, created_at, request_options
    )
    SELECT t.id, p_project_id, p_session_id, t.parent, coalesce(v_branch, p_ids[1]), t.role, t.message::json,
           p_request_id, p_status, p_model, p_in_context, t.tokens, p_completed_at,
           CASE WHEN t.position = cardinality(p_ids) THEN p_options::json END
    FROM unnest(
        p_ids, array_prepend(v_parent, p_ids[1:cardinality(p_ids) - 1]), p_roles, p_messages, p_tokens
    ) WITH ORDINALITY AS t(id, parent, role, message, tokens, position)
    ORDER BY t.position;
    RETURN cardinality(p_ids);
END
$$;
