"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { CostChart } from "@/components/CostChart";
import { ErrorNote } from "@/components/ErrorNote";
import { ProjectPicker } from "@/components/ProjectPicker";
import { RecentRequests } from "@/components/RecentRequests";
import { RequireSignIn } from "@/components/RequireSignIn";
import type { Credentials } from "@/lib/auth";
import { edgeJson } from "@/lib/edge";
import { count, dateTime, milliseconds, percent, time, usd } from "@/lib/format";
import { projectScope, type ProjectScope } from "@/lib/scope";
import type { Analytics, BudgetStatus, Percentiles, RecentRequest } from "@/lib/types";

// Every panel reads again at this interval, so new requests show up without a reload.
const REFRESH_MS = 3_000;

const RANGES = {
  "24h": { label: "Last 24 hours", hours: 24, granularity: "hour" },
  "7d": { label: "Last 7 days", hours: 24 * 7, granularity: "day" },
  "30d": { label: "Last 30 days", hours: 24 * 30, granularity: "day" },
} as const;
type RangeName = keyof typeof RANGES;

const TOKEN_KINDS: [string, string][] = [
  ["prompt_tokens", "Prompt"],
  ["cached_tokens", "Cached prompt"],
  ["cache_write_tokens", "Cache writes"],
  ["completion_tokens", "Completion"],
  ["reasoning_tokens", "Reasoning"],
  ["audio_input_tokens", "Audio in"],
  ["audio_output_tokens", "Audio out"],
  ["input_images", "Images in"],
  ["output_images", "Images out"],
];

export default function DashboardPage() {
  return <RequireSignIn>{(credentials) => <Dashboard credentials={credentials} />}</RequireSignIn>;
}

function Dashboard({ credentials }: { credentials: Credentials }) {
  const [selected, setSelected] = useState<string | null>(null);
  const [range, setRange] = useState<RangeName>("24h");
  const scope = projectScope(credentials, selected);

  return (
    <>
      <div className="toolbar">
        <h1>Dashboard</h1>
        {credentials.adminToken && (
          <ProjectPicker adminToken={credentials.adminToken} value={selected} preferred={credentials.projectId} onChange={setSelected} />
        )}
        <label className="inline">
          Range
          <select name="range" value={range} onChange={(event) => setRange(event.target.value as RangeName)}>
            {Object.entries(RANGES).map(([name, { label }]) => (
              <option key={name} value={name}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {scope ? <Panels scope={scope} range={range} /> : <p className="muted">No project to show yet.</p>}
    </>
  );
}

function Panels({ scope, range }: { scope: ProjectScope; range: RangeName }) {
  const { hours, granularity } = RANGES[range];
  const live = { refetchInterval: REFRESH_MS, refetchIntervalInBackground: false };

  const budget = useQuery({
    queryKey: ["budget", scope.budgetPath, scope.token],
    queryFn: () => edgeJson<BudgetStatus>(scope.budgetPath, scope.token),
    ...live,
  });
  const analytics = useQuery({
    queryKey: ["analytics", scope.analyticsPath, scope.token, range],
    queryFn: () => {
      const start = new Date(Date.now() - hours * 3_600_000).toISOString();
      const query = new URLSearchParams({ start, granularity, group_by: "model" });
      return edgeJson<Analytics>(`${scope.analyticsPath}?${query}`, scope.token);
    },
    ...live,
  });
  const recent = useQuery({
    queryKey: ["requests", scope.requestsPath, scope.token],
    queryFn: () => edgeJson<{ data: RecentRequest[] }>(`${scope.requestsPath}?limit=25`, scope.token),
    ...live,
  });
  const totals = analytics.data?.totals;

  return (
    <>
      <p className="muted live" data-testid="updated">
        Live · updated {recent.dataUpdatedAt ? time(new Date(recent.dataUpdatedAt).toISOString()) : "–"}
      </p>
      <div className="grid">
        <section className="card" data-testid="spend-today">
          <h2>Spend today</h2>
          {budget.data ? <SpendToday budget={budget.data} /> : <ErrorNote error={budget.error} />}
        </section>
        <section className="card">
          <h2>Requests</h2>
          {totals && (
            <dl className="figures">
              <dt>Requests</dt>
              <dd data-testid="request-count">{count(totals.requests)}</dd>
              <dt>Errors</dt>
              <dd>{count(totals.errors)}</dd>
              <dt>Error rate</dt>
              <dd>{percent(totals.error_rate)}</dd>
              <dt>Cost</dt>
              <dd>{usd(totals.cost_usd.total)}</dd>
            </dl>
          )}
        </section>
        <section className="card">
          <h2>Latency</h2>
          {totals && <PercentileTable latency={totals.latency_ms} ttft={totals.ttft_ms} />}
        </section>
        <section className="card">
          <h2>Tokens by kind</h2>
          {totals && <TokenBars tokens={totals.tokens} />}
        </section>
      </div>
      <section className="card">
        <h2>Cost over time by model</h2>
        <ErrorNote error={analytics.error} />
        {analytics.data && <CostChart rows={analytics.data.rows} granularity={granularity} />}
      </section>
      <section className="card">
        <h2>Recent requests</h2>
        <ErrorNote error={recent.error} />
        {recent.data && <RecentRequests rows={recent.data.data} />}
      </section>
    </>
  );
}

function SpendToday({ budget }: { budget: BudgetStatus }) {
  const { cap_usd, spent_usd, reserved_usd, remaining_usd } = budget.project;
  const share = cap_usd && Number(cap_usd) > 0 ? Math.min(1, Number(spent_usd) / Number(cap_usd)) : 0;
  return (
    <>
      <p className="big">
        <span data-testid="spent">{usd(spent_usd)}</span>
        <span className="muted"> of {cap_usd === null ? "no cap" : <span data-testid="cap">{usd(cap_usd)}</span>}</span>
      </p>
      {cap_usd !== null && (
        <div className="meter" aria-label="share of the daily cap spent">
          <div style={{ width: `${share * 100}%` }} className={share >= 0.8 ? "hot" : undefined} />
        </div>
      )}
      <p className="muted small">
        Reserved by running requests {usd(reserved_usd)} · remaining {usd(remaining_usd)} · resets {dateTime(budget.resets_at)} your time
        (midnight {budget.timezone})
      </p>
    </>
  );
}

function PercentileTable({ latency, ttft }: { latency: Percentiles; ttft: Percentiles }) {
  return (
    <table className="table compact">
      <thead>
        <tr>
          <th />
          <th className="number">p50</th>
          <th className="number">p90</th>
          <th className="number">p99</th>
        </tr>
      </thead>
      <tbody>
        {(
          [
            ["Latency", latency],
            ["Time to first token", ttft],
          ] as const
        ).map(([label, values]) => (
          <tr key={label}>
            <td>{label}</td>
            <td className="number">{milliseconds(values.p50)}</td>
            <td className="number">{milliseconds(values.p90)}</td>
            <td className="number">{milliseconds(values.p99)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TokenBars({ tokens }: { tokens: Record<string, number> }) {
  const largest = Math.max(1, ...TOKEN_KINDS.map(([kind]) => tokens[kind] ?? 0));
  return (
    <ul className="bars">
      {TOKEN_KINDS.map(([kind, label]) => (
        <li key={kind}>
          <span>{label}</span>
          <span className="bar">
            <span style={{ width: `${((tokens[kind] ?? 0) / largest) * 100}%` }} />
          </span>
          <span className="number">{count(tokens[kind] ?? 0)}</span>
        </li>
      ))}
    </ul>
  );
}
