-- Staging: raw engagement events (Parquet) -> canonical `engagement_events`.
--
-- Rules:  occurred_at present, event_type non-empty, customer_id known.
-- Dedup:  one row per event_id; earliest occurred_at wins, then the other columns.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(event_id AS VARCHAR)), '')                            AS event_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    arrow_cast(occurred_at, 'Timestamp(Microsecond, Some("UTC"))')         AS occurred_at,
    NULLIF(lower(trim(CAST(event_type AS VARCHAR))), '')                   AS event_type,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    TRY_CAST(value AS DOUBLE)                                              AS value
  FROM raw_engagement_events
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t.event_id IS NULL OR t.customer_id IS NULL OR t.event_type IS NULL THEN 'missing_value'
      WHEN t.occurred_at IS NULL THEN 'invalid_timestamp'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t.event_id IS NULL THEN 'event_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.event_type IS NULL THEN 'event_type'
      WHEN t.occurred_at IS NULL THEN 'occurred_at'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'customer_id'
    END AS _invalid_column
  FROM typed t
  LEFT JOIN customers c ON c.customer_id = t.customer_id
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY event_id, _invalid_reason IS NULL
      ORDER BY occurred_at, customer_id, event_type, channel, value
    ) AS _rank
  FROM checked
)
SELECT
  event_id,
  customer_id,
  occurred_at,
  event_type,
  channel,
  value,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _rank > 1 THEN 'duplicate_key' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _rank > 1 THEN 'event_id' END AS _reject_column
FROM ranked
-- Sorted by customer and time (see staging/orders.sql).
ORDER BY customer_id, occurred_at, event_id
