-- Staging: raw support tickets -> canonical `support_tickets`.
--
-- Input  `raw_support_tickets` with the reader's provenance columns, and the staged
--        `customers` (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  csat_score is 1-5 or null, reopened_count >= 0, resolved_at >= opened_at,
--         opened_at within [$valid_from, $valid_until), customer_id is known (when
--         customers are staged). A resolved_at after the as-of date is kept: the
--         feature SQL treats such a ticket as open at the as-of date.
-- Output: canonical columns, then `_invalid`, `_read_detail`, `_source_file`,
--         `_source_row` (see staging/orders.sql).
-- Dedup:  (done by the pipeline, contract.rs) one row per ticket_id; versions ranked
--        by latest resolved_at (a later export of the same ticket carries its
--        resolution), then the other columns: the first is staged, identical copies are
--        `exact_duplicate`, other versions `duplicate_key`.
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
      WHEN t._read_error IS NOT NULL
        THEN named_struct('reason', t._read_error, 'column', t._read_column)
      WHEN t.ticket_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'ticket_id')
      WHEN t.customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN t.opened_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'opened_at')
      WHEN t.opened_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'opened_at')
      WHEN t.opened_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'opened_at')
      WHEN t.resolved_at_raw IS NOT NULL AND t.resolved_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'resolved_at')
      WHEN t.resolved_at < t.opened_at
        THEN named_struct('reason', 'resolved_before_opened', 'column', 'resolved_at')
      WHEN t.csat_raw IS NOT NULL AND t.csat_score IS NULL
        THEN named_struct('reason', 'invalid_number', 'column', 'csat_score')
      WHEN t.csat_score NOT BETWEEN 1 AND 5
        THEN named_struct('reason', 'csat_out_of_range', 'column', 'csat_score')
      WHEN t.reopened_count < 0
        THEN named_struct('reason', 'invalid_number', 'column', 'reopened_count')
      WHEN $check_customers AND c.customer_id IS NULL
        THEN named_struct('reason', 'unknown_customer', 'column', 'customer_id')
    END AS _invalid
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
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
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM checked
