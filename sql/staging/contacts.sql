-- Staging: raw campaign contacts -> canonical `contacts` (used for frequency caps).
--
-- Input  `raw_contacts` with the reader's provenance columns, and the staged `customers`
--        (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  customer_id and action present, contacted_at within [$valid_from,
--         $valid_until), customer_id known.
-- Dedup:  the row is its own key: repeats of (customer_id, action, contacted_at) are one
--         contact, the copies counted as `exact_duplicate`.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    NULLIF(lower(trim(CAST(action AS VARCHAR))), '')                       AS action,
    parse_timestamp(contacted_at, $timestamp_format)                       AS contacted_at,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_contacts
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_error
      WHEN t.customer_id IS NULL OR t.action IS NULL THEN 'missing_value'
      WHEN t.contacted_at IS NULL THEN 'invalid_timestamp'
      WHEN t.contacted_at < $valid_from THEN 'out_of_range_date'
      WHEN t.contacted_at >= $valid_until THEN 'future_date'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_column
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.action IS NULL THEN 'action'
      WHEN t.contacted_at IS NULL OR t.contacted_at < $valid_from OR t.contacted_at >= $valid_until THEN 'contacted_at'
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
    ROW_NUMBER() OVER (
      PARTITION BY customer_id, action, contacted_at, _invalid_reason IS NULL
      ORDER BY customer_id
    ) AS _copy
  FROM checked
)
SELECT
  customer_id,
  action,
  contacted_at,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _copy > 1 THEN 'exact_duplicate' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _copy > 1 THEN 'contacted_at' END AS _reject_column,
  CASE WHEN _invalid_reason IS NOT NULL THEN _read_detail END AS _reject_detail,
  _source_file,
  _source_row
FROM ranked
ORDER BY customer_id, contacted_at, action, _source_file, _source_row
