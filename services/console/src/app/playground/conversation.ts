// The playground's conversation: what it sends to the edge and how a stored session becomes turns again.
import type { SessionDetail, Usage } from "@/lib/types";

export type UserTurn = { kind: "user"; content: string };

export type AssistantTurn = {
  kind: "assistant";
  model: string;
  reasoning: string;
  content: string;
  state: "streaming" | "done" | "error";
  usage?: Usage;
  // The session turn this reply is stored as (`x-session-turn-id`), to continue or branch from.
  turnId?: string;
  requestId?: string;
  error?: string;
};

export type Turn = UserTurn | AssistantTurn;

export type Thinking = { on: boolean; mode: "budget" | "effort"; budget: string; effort: string };

export type Draft = { model: string; text: string; thinking: Thinking; sessionId: string; parentTurnId: string | null };

export function requestBody(draft: Draft, extra: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: draft.model,
    messages: [{ role: "user", content: draft.text }],
    session_id: draft.sessionId,
    ...extra,
  };
  // The edge prepends the session's history up to this turn; without it, the session's newest turn.
  if (draft.parentTurnId) body.parent_turn_id = draft.parentTurnId;
  if (draft.thinking.on) {
    body.thinking =
      draft.thinking.mode === "budget"
        ? { enabled: true, budget_tokens: Number(draft.thinking.budget) }
        : { enabled: true, effort: draft.thinking.effort };
  }
  return body;
}

// The turn the next message continues from: the last reply shown.
export function headTurnId(turns: Turn[]): string | null {
  for (let index = turns.length - 1; index >= 0; index -= 1) {
    const turn = turns[index];
    if (turn.kind === "assistant" && turn.turnId) return turn.turnId;
  }
  return null;
}

// The turns from the session's first message to its newest turn, following each turn's parent.
export function turnsOfSession(session: SessionDetail): Turn[] {
  const byId = new Map(session.turns.map((turn) => [turn.id, turn]));
  const path = [];
  let current = session.head_turn_id ? byId.get(session.head_turn_id) : undefined;
  while (current && path.length <= session.turns.length) {
    path.push(current);
    current = current.parent_turn_id ? byId.get(current.parent_turn_id) : undefined;
  }
  return path.reverse().map((turn) =>
    turn.role === "assistant"
      ? {
          kind: "assistant",
          model: turn.model,
          reasoning: turn.message.reasoning_content ?? "",
          content: turn.content ?? "",
          state: turn.status === "ok" ? "done" : "error",
          turnId: turn.id,
          requestId: turn.request_id,
        }
      : { kind: "user", content: turn.content ?? "" },
  );
}

export function newSessionId(): string {
  return `console-${crypto.randomUUID().slice(0, 8)}`;
}
