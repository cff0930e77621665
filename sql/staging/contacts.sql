-- Staging: raw campaign contacts -> canonical `contacts` (used for frequency caps).
--
-- Input  `raw_contacts` with the reader's provenance columns, and the staged `customers`
--        (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Rules:  customer_id and action present, contacted_at within [$valid_from,
--         $valid_until), customer_id known.
-- Output: canonical columns, then `_invalid`, `_read_detail`, `_source_file`,
--         `_source_row` (see staging/orders.sql).
-- Dedup:  (done by the pipeline, contract.rs) the row is its own key: repeats of
--        (customer_id, action, contacted_at) are one contact, the copies counted as
--        `exact_duplicate`.
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
      WHEN t._read_error IS NOT NULL
        THEN named_struct('reason', t._read_error, 'column', t._read_column)
      WHEN t.customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN t.action IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'action')
      WHEN t.contacted_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'contacted_at')
      WHEN t.contacted_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'contacted_at')
      WHEN t.contacted_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'contacted_at')
      WHEN $check_customers AND c.customer_id IS NULL
        THEN named_struct('reason', 'unknown_customer', 'column', 'customer_id')
    END AS _invalid
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
)
SELECT
  customer_id,
  action,
  contacted_at,
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM checked
