"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { RequireSignIn } from "@/components/RequireSignIn";
import type { Credentials } from "@/lib/auth";
import { edgeFetch, edgeJson, jsonBody, messageOf } from "@/lib/edge";
import { count, usd } from "@/lib/format";
import { useModels } from "@/lib/models";
import { sseEvents } from "@/lib/sse";
import type { DryRun, SessionDetail, SessionSummary, Usage } from "@/lib/types";
import { headTurnId, newSessionId, requestBody, turnsOfSession, type AssistantTurn, type Draft, type Thinking, type Turn } from "./conversation";
import { TurnView } from "./TurnView";

const EFFORTS = ["minimal", "low", "medium", "high"];

type StreamChunk = {
  choices?: { delta?: { content?: string | null; reasoning_content?: string | null } }[];
  usage?: Usage | null;
  error?: { message: string };
};

export default function PlaygroundPage() {
  return (
    <RequireSignIn>
      {(credentials) =>
        credentials.projectKey ? (
          <Playground credentials={credentials} projectKey={credentials.projectKey} />
        ) : (
          <p className="muted">Chatting needs a project API key, because the admin token cannot send requests: sign out and sign in with one.</p>
        )
      }
    </RequireSignIn>
  );
}

function Playground({ credentials, projectKey }: { credentials: Credentials; projectKey: string }) {
  const queryClient = useQueryClient();
  const models = useModels(credentials);
  const streamable = (models.data ?? []).filter((model) => model.capabilities.includes("streaming"));
  const [model, setModel] = useState("");
  const [thinking, setThinking] = useState<Thinking>({ on: false, mode: "budget", budget: "2048", effort: "medium" });
  const [sessionId, setSessionId] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [text, setText] = useState("");
  const [estimate, setEstimate] = useState<DryRun | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => setSessionId(newSessionId()), []);
  useEffect(() => {
    if (model || streamable.length === 0) return;
    setModel((streamable.find((item) => item.capabilities.includes("reasoning")) ?? streamable[0]).id);
  }, [model, streamable]);

  const sessions = useQuery({
    queryKey: ["sessions", projectKey],
    queryFn: () => edgeJson<{ data: SessionSummary[] }>("/v1/sessions?limit=20", projectKey),
  });
  const selectedModel = streamable.find((item) => item.id === model);
  const draft: Draft = { model, text, thinking, sessionId, parentTurnId: headTurnId(turns) };

  function updateLast(change: (turn: AssistantTurn) => AssistantTurn) {
    setTurns((current) => {
      const last = current.at(-1);
      return last?.kind === "assistant" ? [...current.slice(0, -1), change(last)] : current;
    });
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!text.trim() || busy) return;
    const controller = new AbortController();
    abort.current = controller;
    setBusy(true);
    setError(null);
    setEstimate(null);
    setText("");
    setTurns((current) => [...current, { kind: "user", content: draft.text }, { kind: "assistant", model, reasoning: "", content: "", state: "streaming" }]);
    try {
      const body = requestBody(draft, { stream: true, stream_options: { include_usage: true } });
      const response = await edgeFetch("/v1/chat/completions", projectKey, { method: "POST", ...jsonBody(body), signal: controller.signal });
      const turnId = response.headers.get("x-session-turn-id") ?? undefined;
      const requestId = response.headers.get("x-request-id") ?? undefined;
      updateLast((turn) => ({ ...turn, turnId, requestId }));
      for await (const chunk of sseEvents(response.body!) as AsyncGenerator<StreamChunk>) {
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices?.[0]?.delta;
        const usage = chunk.usage ?? undefined;
        updateLast((turn) => ({
          ...turn,
          reasoning: turn.reasoning + (delta?.reasoning_content ?? ""),
          content: turn.content + (delta?.content ?? ""),
          usage: usage ?? turn.usage,
        }));
      }
      updateLast((turn) => ({ ...turn, state: "done" }));
    } catch (caught) {
      updateLast((turn) => ({ ...turn, state: "error", error: controller.signal.aborted ? "Stopped." : messageOf(caught) }));
    } finally {
      setBusy(false);
      abort.current = null;
      void queryClient.invalidateQueries({ queryKey: ["sessions", projectKey] });
    }
  }

  async function dryRun() {
    setError(null);
    try {
      setEstimate(await edgeJson<DryRun>("/v1/chat/completions", projectKey, { method: "POST", ...jsonBody(requestBody(draft, { dry_run: true })) }));
    } catch (caught) {
      setError(caught);
    }
  }

  async function openSession(id: string) {
    setError(null);
    try {
      const session = await edgeJson<SessionDetail>(`/v1/sessions/${encodeURIComponent(id)}`, projectKey);
      setSessionId(session.id);
      setTurns(turnsOfSession(session));
    } catch (caught) {
      setError(caught);
    }
  }

  function branchAt(index: number) {
    setTurns((current) => current.slice(0, index + 1));
  }

  function editAt(index: number) {
    const turn = turns[index];
    setText(turn.content);
    // The first message has no turn before it to branch from, so it starts a new session.
    if (index === 0) setSessionId(newSessionId());
    setTurns((current) => current.slice(0, index));
  }

  function startOver() {
    setSessionId(newSessionId());
    setTurns([]);
    setEstimate(null);
  }

  return (
    <div className="playground">
      <aside className="card settings">
        <h2>Settings</h2>
        <label>
          Model
          <select name="model" value={model} onChange={(event) => setModel(event.target.value)}>
            {streamable.map((item) => (
              <option key={item.id} value={item.id}>
                {item.id}
                {item.capabilities.includes("reasoning") ? " · reasoning" : ""}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" name="thinking" checked={thinking.on} onChange={(event) => setThinking({ ...thinking, on: event.target.checked })} />
          Thinking
        </label>
        {thinking.on && (
          <div className="stack indent">
            <label className="check">
              <input type="radio" name="thinking-mode" checked={thinking.mode === "budget"} onChange={() => setThinking({ ...thinking, mode: "budget" })} />
              Budget in tokens
            </label>
            {thinking.mode === "budget" && (
              <input name="thinking-budget" inputMode="numeric" value={thinking.budget} onChange={(event) => setThinking({ ...thinking, budget: event.target.value })} />
            )}
            <label className="check">
              <input type="radio" name="thinking-mode" checked={thinking.mode === "effort"} onChange={() => setThinking({ ...thinking, mode: "effort" })} />
              Effort
            </label>
            {thinking.mode === "effort" && (
              <select name="thinking-effort" value={thinking.effort} onChange={(event) => setThinking({ ...thinking, effort: event.target.value })}>
                {EFFORTS.map((effort) => (
                  <option key={effort}>{effort}</option>
                ))}
              </select>
            )}
            {selectedModel && !selectedModel.capabilities.includes("reasoning") && <p className="muted small">This model does not reason; the edge will reject the request.</p>}
          </div>
        )}
        <h2>Session</h2>
        <p className="mono small" data-testid="session-id">
          {sessionId}
        </p>
        <button type="button" className="secondary" onClick={startOver}>
          New session
        </button>
        <h3>Continue a session</h3>
        <ErrorNote error={sessions.error} />
        <ul className="sessions">
          {(sessions.data?.data ?? []).map((session) => (
            <li key={session.id}>
              <button type="button" className="link mono" onClick={() => openSession(session.id)}>
                {session.id}
              </button>
              <span className="muted small">
                {" "}
                {session.turn_count} turns · {session.branch_count} branches
              </span>
            </li>
          ))}
        </ul>
      </aside>
      <section className="card chat">
        <h1>Playground</h1>
        <div className="turns" data-testid="turns">
          {turns.map((turn, index) => (
            <TurnView key={index} turn={turn} onBranch={() => branchAt(index)} onEdit={() => editAt(index)} />
          ))}
        </div>
        {draft.parentTurnId && (
          <p className="muted small" data-testid="continues-from">
            The next message continues from turn <span className="mono">{draft.parentTurnId}</span>.
          </p>
        )}
        <form onSubmit={send} className="stack">
          <textarea name="message" rows={3} placeholder="Message" value={text} onChange={(event) => setText(event.target.value)} />
          <div className="row">
            <button type="submit" disabled={busy || !text.trim() || !model}>
              Send
            </button>
            <button type="button" className="secondary" onClick={dryRun} disabled={busy || !text.trim() || !model}>
              Estimate cost
            </button>
            {busy && (
              <button type="button" className="secondary" onClick={() => abort.current?.abort()}>
                Stop
              </button>
            )}
          </div>
        </form>
        <ErrorNote error={error} />
        {estimate && <Estimate estimate={estimate} />}
      </section>
    </div>
  );
}

function Estimate({ estimate }: { estimate: DryRun }) {
  const { budget } = estimate;
  return (
    <div className="estimate" data-testid="estimate">
      <strong>Estimate</strong> for {estimate.model}: {count(estimate.prompt_tokens)} prompt tokens{estimate.prompt_tokens_exact ? "" : " (estimated)"}, up to{" "}
      {count(estimate.max_output_tokens)} output tokens; cost {usd(estimate.cost.min)} to {usd(estimate.cost.max)}
      {estimate.cost.priced ? "" : " (some prices unknown)"}.{" "}
      {verdict(budget)}
    </div>
  );
}

function verdict(budget: DryRun["budget"]): string {
  if (!budget.capped) return "No budget cap applies.";
  if (!budget.admitted) return "The budget would reject it.";
  return `The budget admits it (${usd(budget.remaining_usd)} left).`;
}
