import { count, usd } from "@/lib/format";
import type { Turn } from "./conversation";

export function TurnView({ turn, onBranch, onEdit }: { turn: Turn; onBranch: () => void; onEdit: () => void }) {
  if (turn.kind === "user") {
    return (
      <div className="turn user" data-role="user">
        <div className="who">You</div>
        <div className="content">{turn.content}</div>
        <button type="button" className="link small" onClick={onEdit}>
          Edit and branch
        </button>
      </div>
    );
  }
  const reasoningTokens = turn.usage?.completion_tokens_details?.reasoning_tokens;
  return (
    <div className="turn assistant" data-role="assistant" data-state={turn.state} data-request-id={turn.requestId}>
      <div className="who">{turn.model}</div>
      {turn.reasoning && (
        <details className="reasoning" data-testid="reasoning" open>
          <summary>Reasoning</summary>
          <div className="content">{turn.reasoning}</div>
        </details>
      )}
      <div className="content" data-testid="answer">
        {turn.content || (turn.state === "streaming" ? "…" : "")}
      </div>
      {turn.error && (
        <p className="error" role="alert">
          {turn.error}
        </p>
      )}
      <div className="meta small muted">
        {turn.usage && (
          <span data-testid="turn-usage">
            {count(turn.usage.prompt_tokens)} prompt · {count(turn.usage.completion_tokens)} completion
            {reasoningTokens ? ` (${count(reasoningTokens)} reasoning)` : ""} · <span data-testid="turn-cost" data-cost={turn.usage.cost?.total}>
              {usd(turn.usage.cost?.total)}
            </span>
          </span>
        )}
        {turn.turnId && (
          <button type="button" className="link" onClick={onBranch}>
            Branch from here
          </button>
        )}
      </div>
    </div>
  );
}
