-- Staging: raw engagement events -> canonical `engagement_events`.
--
-- Input  `raw_engagement_events` with the reader's provenance columns, and the staged
--        `customers` (see staging/orders.sql). Parquet keeps its types (occurred_at is
--        a timestamp), CSV/NDJSON arrive as text: every expression here takes both.
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  event_id, customer_id, event_type present; occurred_at within
--         [$valid_from, $valid_until); value a number or empty; customer_id known.
-- Dedup:  one row per event_id; versions ranked by (occurred_at, then the other
--         columns): the first is staged, identical copies are `exact_duplicate`, other
--         versions `duplicate_key`.
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
      WHEN t._read_error IS NOT NULL THEN t._read_error
      WHEN t.event_id IS NULL OR t.customer_id IS NULL OR t.event_type IS NULL THEN 'missing_value'
      WHEN t.occurred_at IS NULL THEN 'invalid_timestamp'
      WHEN t.occurred_at < $valid_from THEN 'out_of_range_date'
      WHEN t.occurred_at >= $valid_until THEN 'future_date'
      WHEN t.value_raw IS NOT NULL AND (t.value IS NULL OR isnan(t.value)) THEN 'invalid_number'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_column
      WHEN t.event_id IS NULL THEN 'event_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.event_type IS NULL THEN 'event_type'
      WHEN t.occurred_at IS NULL OR t.occurred_at < $valid_from OR t.occurred_at >= $valid_until THEN 'occurred_at'
      WHEN t.value_raw IS NOT NULL AND (t.value IS NULL OR isnan(t.value)) THEN 'value'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'customer_id'
    END AS _invalid_column
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
),
ranked AS (
  SELECT
    *,
    DENSE_RANK() OVER w AS _version,
    ROW_NUMBER() OVER w AS _copy
  FROM checked
  WINDOW w AS (
    PARTITION BY event_id, _invalid_reason IS NULL
    ORDER BY occurred_at, customer_id, event_type, channel, value
  )
)
SELECT
  event_id,
  customer_id,
  occurred_at,
  event_type,
  channel,
  value,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _version > 1 THEN 'duplicate_key'
       WHEN _copy > 1 THEN 'exact_duplicate' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _copy > 1 THEN 'event_id' END AS _reject_column,
  CASE WHEN _invalid_reason IS NOT NULL THEN _read_detail
       WHEN _version > 1 THEN 'another row with this event_id has different values and was staged' END AS _reject_detail,
  _source_file,
  _source_row
FROM ranked
ORDER BY customer_id, occurred_at, event_id, _source_file, _source_row
