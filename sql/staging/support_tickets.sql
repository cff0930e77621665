-- Staging: raw support tickets -> canonical `support_tickets`.
--
-- Input  `raw_support_tickets` with the reader's provenance columns, and the staged
--        `customers` (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  csat_score is 1-5 or null, reopened_count >= 0, resolved_at >= opened_at,
--         opened_at within [$valid_from, $valid_until), customer_id is known (when
--         customers are staged). A resolved_at after the as-of date is kept: the
--         feature SQL treats such a ticket as open at the as-of date.
-- Dedup:  one row per ticket_id; versions ranked by latest resolved_at (a later export of
--         the same ticket carries its resolution), then the other columns: the first is
--         staged, identical copies are `exact_duplicate`, other versions `duplicate_key`.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(ticket_id AS VARCHAR)), '')                           AS ticket_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    parse_timestamp(opened_at, $timestamp_format)                          AS opened_at,
    NULLIF(trim(CAST(resolved_at AS VARCHAR)), '')                         AS resolved_at_raw,
    parse_timestamp(resolved_at, $timestamp_format)                        AS resolved_at,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    lower(trim(CAST(topic AS VARCHAR)))                                    AS topic,
    lower(trim(CAST(priority AS VARCHAR)))                                 AS priority,
    NULLIF(trim(CAST(csat_score AS VARCHAR)), '')                          AS csat_raw,
    TRY_CAST(NULLIF(trim(CAST(csat_score AS VARCHAR)), '') AS BIGINT)      AS csat_score,
    COALESCE(TRY_CAST(trim(CAST(reopened_count AS VARCHAR)) AS BIGINT), -1) AS reopened_count,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_support_tickets
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_error
      WHEN t.ticket_id IS NULL OR t.customer_id IS NULL THEN 'missing_value'
      WHEN t.opened_at IS NULL THEN 'invalid_timestamp'
      WHEN t.opened_at < $valid_from THEN 'out_of_range_date'
      WHEN t.opened_at >= $valid_until THEN 'future_date'
      WHEN t.resolved_at_raw IS NOT NULL AND t.resolved_at IS NULL THEN 'invalid_timestamp'
      WHEN t.resolved_at < t.opened_at THEN 'resolved_before_opened'
      WHEN t.csat_raw IS NOT NULL AND t.csat_score IS NULL THEN 'invalid_number'
      WHEN t.csat_score NOT BETWEEN 1 AND 5 THEN 'csat_out_of_range'
      WHEN t.reopened_count < 0 THEN 'invalid_number'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_column
      WHEN t.ticket_id IS NULL THEN 'ticket_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.opened_at IS NULL OR t.opened_at < $valid_from OR t.opened_at >= $valid_until THEN 'opened_at'
      WHEN t.resolved_at_raw IS NOT NULL AND t.resolved_at IS NULL THEN 'resolved_at'
      WHEN t.resolved_at < t.opened_at THEN 'resolved_at'
      WHEN t.csat_raw IS NOT NULL AND t.csat_score IS NULL THEN 'csat_score'
      WHEN t.csat_score NOT BETWEEN 1 AND 5 THEN 'csat_score'
      WHEN t.reopened_count < 0 THEN 'reopened_count'
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
    PARTITION BY ticket_id, _invalid_reason IS NULL
    ORDER BY resolved_at DESC NULLS LAST, opened_at, customer_id, channel, topic, priority, csat_score, reopened_count
  )
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
       WHEN _version > 1 THEN 'duplicate_key'
       WHEN _copy > 1 THEN 'exact_duplicate' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _copy > 1 THEN 'ticket_id' END AS _reject_column,
  CASE WHEN _invalid_reason IS NOT NULL THEN _read_detail
       WHEN _version > 1 THEN 'another row with this ticket_id has different values and was staged' END AS _reject_detail,
  _source_file,
  _source_row
FROM ranked
ORDER BY customer_id, opened_at, ticket_id, _source_file, _source_row
