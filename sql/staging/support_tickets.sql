-- Staging: raw support tickets (NDJSON) -> canonical `support_tickets`.
--
-- Rules:  csat_score is 1-5 or null, reopened_count >= 0, resolved_at >= opened_at,
--         customer_id is known (when customers are staged).
-- Dedup:  one row per ticket_id; the latest resolved_at wins (a later export of the same
--         ticket carries its resolution), then the other columns.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(ticket_id AS VARCHAR)), '')                           AS ticket_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    arrow_cast(TRY_CAST(trim(CAST(opened_at AS VARCHAR)) AS TIMESTAMP),
               'Timestamp(Microsecond, Some("UTC"))')                      AS opened_at,
    NULLIF(trim(CAST(resolved_at AS VARCHAR)), '')                         AS resolved_at_raw,
    arrow_cast(TRY_CAST(NULLIF(trim(CAST(resolved_at AS VARCHAR)), '') AS TIMESTAMP),
               'Timestamp(Microsecond, Some("UTC"))')                      AS resolved_at,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    lower(trim(CAST(topic AS VARCHAR)))                                    AS topic,
    lower(trim(CAST(priority AS VARCHAR)))                                 AS priority,
    NULLIF(trim(CAST(csat_score AS VARCHAR)), '')                          AS csat_raw,
    TRY_CAST(NULLIF(trim(CAST(csat_score AS VARCHAR)), '') AS BIGINT)      AS csat_score,
    COALESCE(TRY_CAST(trim(CAST(reopened_count AS VARCHAR)) AS BIGINT), -1) AS reopened_count
  FROM raw_support_tickets
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t.ticket_id IS NULL OR t.customer_id IS NULL THEN 'missing_value'
      WHEN t.opened_at IS NULL THEN 'invalid_timestamp'
      WHEN t.resolved_at_raw IS NOT NULL AND t.resolved_at IS NULL THEN 'invalid_timestamp'
      WHEN t.resolved_at < t.opened_at THEN 'resolved_before_opened'
      WHEN t.csat_raw IS NOT NULL AND t.csat_score IS NULL THEN 'invalid_number'
      WHEN t.csat_score NOT BETWEEN 1 AND 5 THEN 'csat_out_of_range'
      WHEN t.reopened_count < 0 THEN 'invalid_number'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t.ticket_id IS NULL THEN 'ticket_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.opened_at IS NULL THEN 'opened_at'
      WHEN t.resolved_at_raw IS NOT NULL AND t.resolved_at IS NULL THEN 'resolved_at'
      WHEN t.resolved_at < t.opened_at THEN 'resolved_at'
      WHEN t.csat_raw IS NOT NULL AND t.csat_score IS NULL THEN 'csat_score'
      WHEN t.csat_score NOT BETWEEN 1 AND 5 THEN 'csat_score'
      WHEN t.reopened_count < 0 THEN 'reopened_count'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'customer_id'
    END AS _invalid_column
  FROM typed t
  LEFT JOIN customers c ON c.customer_id = t.customer_id
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY ticket_id, _invalid_reason IS NULL
      ORDER BY resolved_at DESC NULLS LAST, opened_at, customer_id, channel, topic, priority, csat_score, reopened_count
    ) AS _rank
  FROM checked
)
SELECT
  ticket_id,
  customer_id,
  opened_at,
  resolved_at,
  channel,
  topic,
  priority,
  csat_score,
  reopened_count,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _rank > 1 THEN 'duplicate_key' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _rank > 1 THEN 'ticket_id' END AS _reject_column
FROM ranked
-- Sorted by customer and time (see staging/orders.sql).
ORDER BY customer_id, opened_at, ticket_id
