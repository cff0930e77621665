-- Staging: raw engagement events -> canonical `engagement_events`.
--
-- Input  `raw_engagement_events` with the reader's provenance columns, and the staged
--        `customers` (see staging/orders.sql). Parquet keeps its types (occurred_at is
--        a timestamp), CSV/NDJSON arrive as text: every expression here takes both.
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  event_id, customer_id, event_type present; occurred_at within
--         [$valid_from, $valid_until); value a number or empty; customer_id known.
-- Output: canonical columns, then `_invalid`, `_read_detail`, `_source_file`,
--         `_source_row` (see staging/orders.sql).
-- Dedup:  (done by the pipeline, contract.rs) one row per event_id; versions ranked by
--        (occurred_at, then the other columns): the first is staged, identical copies
--        are `exact_duplicate`, other versions `duplicate_key`.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(event_id AS VARCHAR)), '')                            AS event_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    parse_timestamp(occurred_at, $timestamp_format)                        AS occurred_at,
    NULLIF(lower(trim(CAST(event_type AS VARCHAR))), '')                   AS event_type,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    NULLIF(trim(CAST(value AS VARCHAR)), '')                               AS value_raw,
    TRY_CAST(NULLIF(trim(CAST(value AS VARCHAR)), '') AS DOUBLE)           AS value,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_engagement_events
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t._read_error IS NOT NULL
        THEN named_struct('reason', t._read_error, 'column', t._read_column)
      WHEN t.event_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'event_id')
      WHEN t.customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN t.event_type IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'event_type')
      WHEN t.occurred_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'occurred_at')
      WHEN t.occurred_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'occurred_at')
      WHEN t.occurred_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'occurred_at')
      WHEN t.value_raw IS NOT NULL AND (t.value IS NULL OR isnan(t.value))
        THEN named_struct('reason', 'invalid_number', 'column', 'value')
      WHEN $check_customers AND c.customer_id IS NULL
        THEN named_struct('reason', 'unknown_customer', 'column', 'customer_id')
    END AS _invalid
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
)
SELECT
  event_id,
  customer_id,
  occurred_at,
  event_type,
  channel,
  value,
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM checked
