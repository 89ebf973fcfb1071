"""The SQL that reads the path from a session's first turn to one of its turns.

A branch is a chain named after its first turn. The parent of that first turn
(the fork turn) belongs to the branch it forks from. Turns are stored after
their parent, so `seq` grows along every path. The path to a turn is
therefore its branch's turns up to it, then the same for the fork turn, and
so on. That is a walk over the few branches, each read with one index range
scan, instead of one lookup per turn.
"""

from __future__ import annotations

# Common table expressions for `WITH RECURSIVE`, with $1 the project id, $2
# the session id and $3 the turn (NULL for the session's newest turn).
# `path` has every column of `sessions.turns`.
PATH_CTES = """
start AS (
    SELECT id, branch_id, seq FROM sessions.turns
    WHERE project_id = $1 AND session_id = $2 AND ($3::uuid IS NULL OR id = $3::uuid)
    ORDER BY seq DESC LIMIT 1
),
segments AS (
    SELECT branch_id, seq AS last_seq FROM start
    UNION ALL
    SELECT fork.branch_id, fork.seq
    FROM segments
    JOIN sessions.turns first ON first.id = segments.branch_id
    JOIN sessions.turns fork ON fork.id = first.parent_turn_id
),
path AS (
    SELECT t.* FROM segments
    JOIN sessions.turns t ON t.project_id = $1 AND t.session_id = $2
        AND t.branch_id = segments.branch_id AND t.seq <= segments.last_seq
)
"""
