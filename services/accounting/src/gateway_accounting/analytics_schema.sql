-- Usage analytics. The same statements run on chdb and on a ClickHouse server.
CREATE DATABASE IF NOT EXISTS gateway;

-- One row per request. ReplacingMergeTree keyed by the request id folds a
-- redelivered event into its first copy; readers use FINAL to see the folded rows.
CREATE TABLE IF NOT EXISTS gateway.usage_events
(
    request_id          String,
    project_id          String,
    key_id              String,
    model               LowCardinality(String),
    provider            LowCardinality(String),
    upstream_model      String,
    status              LowCardinality(String),
    http_status         UInt16,
    error_code          LowCardinality(String),
    stream              Bool,
    emulated            Bool,
    session_id          String,
    prompt_tokens       UInt64,
    completion_tokens   UInt64,
    total_tokens        UInt64,
    cached_tokens       UInt64,
    cache_write_tokens  UInt64,
    reasoning_tokens    UInt64,
    audio_input_tokens  UInt64,
    audio_output_tokens UInt64,
    cost_input          Decimal(38, 18),
    cost_cached_input   Decimal(38, 18),
    cost_cache_write    Decimal(38, 18),
    cost_output         Decimal(38, 18),
    cost_reasoning      Decimal(38, 18),
    cost_audio_input    Decimal(38, 18),
    cost_audio_output   Decimal(38, 18),
    cost_total          Decimal(38, 18),
    started_at          DateTime64(3, 'UTC'),
    finished_at         DateTime64(3, 'UTC'),
    latency_ms          Float64,
    ttft_ms             Nullable(Float64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, toDate(started_at), request_id);
