-- Usage analytics. The same statements run on chdb and on a ClickHouse server.
CREATE DATABASE IF NOT EXISTS gateway;

-- One row per request. Accounting inserts each request once: PostgreSQL
-- decides which events are new and the block of their rows is retried with
-- the same deduplication token, which this table and the rollups below
-- remember for their last `non_replicated_deduplication_window` blocks.
-- ReplacingMergeTree keyed by the request id is a second line of defence.
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
    cache_write_1h_tokens UInt64,
    input_images        UInt64,
    output_images       UInt64,
    cost_input          Decimal(38, 18),
    cost_cached_input   Decimal(38, 18),
    cost_cache_write    Decimal(38, 18),
    cost_output         Decimal(38, 18),
    cost_reasoning      Decimal(38, 18),
    cost_audio_input    Decimal(38, 18),
    cost_audio_output   Decimal(38, 18),
    cost_image_input    Decimal(38, 18),
    cost_image_output   Decimal(38, 18),
    cost_request        Decimal(38, 18),
    cost_estimated      Bool,
    cost_total          Decimal(38, 18),
    started_at          DateTime64(3, 'UTC'),
    finished_at         DateTime64(3, 'UTC'),
    latency_ms          Float64,
    ttft_ms             Nullable(Float64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, toDate(started_at), request_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Columns and settings added after the first release, for older data directories.
ALTER TABLE gateway.usage_events
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 AFTER audio_output_tokens,
    ADD COLUMN IF NOT EXISTS input_images UInt64 AFTER cache_write_1h_tokens,
    ADD COLUMN IF NOT EXISTS output_images UInt64 AFTER input_images,
    ADD COLUMN IF NOT EXISTS cost_image_input Decimal(38, 18) AFTER cost_audio_output,
    ADD COLUMN IF NOT EXISTS cost_image_output Decimal(38, 18) AFTER cost_image_input,
    ADD COLUMN IF NOT EXISTS cost_request Decimal(38, 18) AFTER cost_image_output,
    ADD COLUMN IF NOT EXISTS cost_estimated Bool AFTER cost_request;
ALTER TABLE gateway.usage_events MODIFY SETTING non_replicated_deduplication_window = 1000;

-- Hourly rollup that every analytics query reads: a month of a busy project
-- is at most 744 rows per model, provider and key. Latency percentiles are
-- t-digest states, which merge across hours and days.
CREATE TABLE IF NOT EXISTS gateway.usage_hourly
(
    project_id          String,
    hour                DateTime('UTC'),
    model               LowCardinality(String),
    provider            LowCardinality(String),
    key_id              String,
    requests            SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    prompt_tokens       SimpleAggregateFunction(sum, UInt64),
    completion_tokens   SimpleAggregateFunction(sum, UInt64),
    total_tokens        SimpleAggregateFunction(sum, UInt64),
    cached_tokens       SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens  SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens    SimpleAggregateFunction(sum, UInt64),
    audio_input_tokens  SimpleAggregateFunction(sum, UInt64),
    audio_output_tokens SimpleAggregateFunction(sum, UInt64),
    input_images        SimpleAggregateFunction(sum, UInt64),
    output_images       SimpleAggregateFunction(sum, UInt64),
    cost_input          SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_cached_input   SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_cache_write    SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_output         SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_reasoning      SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_audio_input    SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_audio_output   SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_image_input    SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_image_output   SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_request        SimpleAggregateFunction(sum, Decimal(38, 18)),
    cost_total          SimpleAggregateFunction(sum, Decimal(38, 18)),
    latency_ms          AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Float64),
    ttft_ms             AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, hour, model, provider, key_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS gateway.usage_hourly_mv TO gateway.usage_hourly AS
SELECT
    project_id,
    toStartOfHour(started_at) AS hour,
    model,
    provider,
    key_id,
    count() AS requests,
    countIf(status = 'error') AS errors,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(audio_input_tokens) AS audio_input_tokens,
    sum(audio_output_tokens) AS audio_output_tokens,
    sum(input_images) AS input_images,
    sum(output_images) AS output_images,
    sum(cost_input) AS cost_input,
    sum(cost_cached_input) AS cost_cached_input,
    sum(cost_cache_write) AS cost_cache_write,
    sum(cost_output) AS cost_output,
    sum(cost_reasoning) AS cost_reasoning,
    sum(cost_audio_input) AS cost_audio_input,
    sum(cost_audio_output) AS cost_audio_output,
    sum(cost_image_input) AS cost_image_input,
    sum(cost_image_output) AS cost_image_output,
    sum(cost_request) AS cost_request,
    sum(cost_total) AS cost_total,
    quantilesTDigestState(0.5, 0.9, 0.99)(latency_ms) AS latency_ms,
    quantilesTDigestState(0.5, 0.9, 0.99)(ttft_ms) AS ttft_ms
FROM gateway.usage_events
GROUP BY project_id, hour, model, provider, key_id;
