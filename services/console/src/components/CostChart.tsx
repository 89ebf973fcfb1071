"use client";

import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { AnalyticsRow } from "@/lib/types";

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d"];

// Stacked bars of cost per period, one colour per model. Amounts become numbers here, for drawing only.
export function CostChart({ rows, granularity }: { rows: AnalyticsRow[]; granularity: "hour" | "day" }) {
  const models = [...new Set(rows.map((row) => row.model ?? "other"))].sort();
  const periods = new Map<string, Record<string, number | string>>();
  for (const row of rows) {
    if (!row.period) continue;
    const label = periodLabel(row.period, granularity);
    const point = periods.get(row.period) ?? { period: label };
    point[row.model ?? "other"] = Number(row.cost_usd.total ?? 0);
    periods.set(row.period, point);
  }
  const data = [...periods.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, point]) => point);

  if (data.length === 0) return <p className="muted">No requests in this range yet.</p>;
  return (
    <div className="chart" data-testid="cost-chart">
      <ResponsiveContainer width="100%" height={260}>
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="period" fontSize={12} />
          <YAxis fontSize={12} tickFormatter={(value: number) => `$${value}`} width={80} />
          <Tooltip formatter={(value) => `$${Number(value).toFixed(6)}`} />
          <Legend />
          {models.map((model, index) => (
            <Bar key={model} dataKey={model} stackId="cost" fill={COLORS[index % COLORS.length]} maxBarSize={48} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

function periodLabel(iso: string, granularity: "hour" | "day"): string {
  // The edge writes periods in the project's time zone; the label keeps its wall-clock time.
  return granularity === "hour" ? iso.slice(11, 16) : iso.slice(0, 10);
}
