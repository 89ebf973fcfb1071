import { count, milliseconds, time, usd } from "@/lib/format";
import type { RecentRequest } from "@/lib/types";

export function RecentRequests({ rows }: { rows: RecentRequest[] }) {
  if (rows.length === 0) return <p className="muted">No requests in the last 7 days.</p>;
  return (
    <table className="table" data-testid="recent-requests">
      <thead>
        <tr>
          <th>Time</th>
          <th>Model</th>
          <th className="number">Prompt</th>
          <th className="number">Completion</th>
          <th className="number">Reasoning</th>
          <th className="number">Cost</th>
          <th className="number">Latency</th>
          <th className="number">TTFT</th>
          <th>Status</th>
          <th>Session</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.request_id} data-request-id={row.request_id} title={row.request_id}>
            <td>{time(row.started_at)}</td>
            <td>{row.model}</td>
            <td className="number">{count(row.tokens.prompt_tokens)}</td>
            <td className="number">{count(row.tokens.completion_tokens)}</td>
            <td className="number">{count(row.tokens.reasoning_tokens)}</td>
            <td className="number" data-cost={row.cost_usd}>
              {usd(row.cost_usd)}
            </td>
            <td className="number">{milliseconds(row.latency_ms)}</td>
            <td className="number">{milliseconds(row.ttft_ms)}</td>
            <td>
              <span className={row.status === "ok" ? "badge ok" : "badge bad"}>
                {row.status === "ok" ? row.http_status : `${row.http_status} ${row.error_code}`}
              </span>
            </td>
            <td className="mono">{row.session_id ?? "–"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
