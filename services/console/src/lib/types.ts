// Response shapes of the edge's API, as the console reads them. Money is a
// decimal string, exactly as the edge sends it.

export type Percentiles = { p50: number | null; p90: number | null; p99: number | null };

export type AnalyticsRow = {
  period: string | null;
  model: string | null;
  requests: number;
  errors: number;
  error_rate: number;
  tokens: Record<string, number>;
  cost_usd: Record<string, string>;
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
};

export type Analytics = { timezone: string; totals: AnalyticsRow; rows: AnalyticsRow[] };

export type BudgetState = { cap_usd: string | null; spent_usd: string; reserved_usd: string; remaining_usd: string | null };

export type BudgetStatus = {
  project_id: string;
  timezone: string;
  day: string;
  resets_at: string;
  project: BudgetState;
  keys: (BudgetState & { key_id: string })[];
};

export type RecentRequest = {
  request_id: string;
  key_id: string;
  model: string;
  status: string;
  http_status: number;
  error_code: string;
  stream: boolean;
  session_id: string | null;
  started_at: string;
  latency_ms: number;
  ttft_ms: number | null;
  tokens: Record<string, number>;
  cost_usd: string;
};

export type Pricing = Record<string, string | null | undefined> & { input: string | null; output: string | null };

export type Model = {
  id: string;
  provider: string;
  display_name: string | null;
  alias_for: string | null;
  context_window: number | null;
  max_output_tokens: number | null;
  capabilities: string[];
  reasoning: { style: string } | null;
  pricing: Pricing | null;
  availability?: string;
  emulated?: boolean;
  retired?: boolean;
};

export type Project = {
  id: string;
  name: string;
  timezone: string;
  daily_budget_usd: string | null;
  budget_alert_threshold: string;
  disabled: boolean;
  created_at: string;
};

export type ApiKey = {
  id: string;
  project_id: string;
  name: string | null;
  prefix: string;
  daily_budget_usd: string | null;
  created_at: string;
  revoked_at: string | null;
};

export type Alias = { alias: string; model: string };

export type SessionSummary = { id: string; turn_count: number; branch_count: number; updated_at: string };

export type SessionTurn = {
  id: string;
  parent_turn_id: string | null;
  role: string;
  content: string | null;
  message: { role: string; content?: unknown; reasoning_content?: string | null };
  request_id: string;
  model: string;
  status: string;
  created_at: string;
};

export type SessionDetail = SessionSummary & { head_turn_id: string | null; turns: SessionTurn[] };

export type CostBreakdown = Record<string, string | boolean> & { total: string };

export type Usage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details?: { reasoning_tokens?: number };
  cost?: CostBreakdown;
};

export type DryRun = {
  model: string;
  prompt_tokens: number;
  prompt_tokens_exact: boolean;
  max_output_tokens: number;
  cost: { min: string; max: string; priced: boolean };
  budget: { capped: boolean; admitted: boolean; remaining_usd?: string; reservation_usd?: string };
};
