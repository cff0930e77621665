-- Staging: raw orders export -> canonical `orders`.
--
-- Input  `raw_orders`: the export as read (CSV/NDJSON columns arrive as text), plus the
--        reader's provenance: `_source_file`, `_source_row` and, for a record that could
--        not be parsed, `_read_error` / `_read_column` / `_read_detail`.
--        The staged `customers` (for the reference check; an orders-only pipeline gets
--        an empty `customers` and skips it via $check_customers).
-- Params $timestamp_format  chrono format of local timestamps ('' = ISO-8601 only)
--        $valid_from        earliest plausible timestamp (older: out_of_range_date)
--        $valid_until       the files' last modification + [quality] future-days
--                           (later: future_date). No as-of date: every plausible row
--                           is staged, and each as-of reads the facts before it.
-- Output: canonical columns, then `_invalid`, `_read_detail`, `_source_file`,
--         `_source_row`. `_invalid` is the rules' verdict, from one CASE: NULL for a
--         valid row, else named_struct('reason', <code>, 'column', <column>), the first
--         rule that fails. The pipeline then deduplicates by the table's key
--         (crates/retain-pipeline/src/contract.rs, `dedup_rule`), adds `_reject_reason`,
--         `_reject_column` and `_reject_detail`, and sorts the rows. Rows with a reason go
--         to quarantine/orders/ (all but `exact_duplicate`, which is counted as a
--         duplicate removed). A query that returns `_reject_reason` itself (instead of
--         `_invalid`) is taken as it is, deduplication and order included.
-- Rules:  amounts are non-negative, discount <= gross, item_count >= 1, status is one of
--         completed / cancelled / refunded / returned, customer_id is known, ordered_at
--         is within [$valid_from, $valid_until).
-- Dedup:  (done by the pipeline, contract.rs) one row per order_id. Versions of an
--        order are ranked by (ordered_at, then every other column); the first is
--        staged, copies identical to it are `exact_duplicate`, other versions are
--        quarantined as `duplicate_key`. The choice depends only on the values, never
--        on file or row order. Rows are sorted by customer, time and order_id.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(order_id AS VARCHAR)), '')                            AS order_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    parse_timestamp(ordered_at, $timestamp_format)                         AS ordered_at,
    lower(trim(CAST(status AS VARCHAR)))                                   AS status,
    TRY_CAST(trim(CAST(gross_amount AS VARCHAR)) AS DOUBLE)                AS gross_amount,
    TRY_CAST(trim(CAST(discount_amount AS VARCHAR)) AS DOUBLE)             AS discount_amount,
    upper(trim(CAST(currency AS VARCHAR)))                                 AS currency,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    lower(trim(CAST(category AS VARCHAR)))                                 AS category,
    TRY_CAST(trim(CAST(item_count AS VARCHAR)) AS BIGINT)                  AS item_count,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_orders
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t._read_error IS NOT NULL
        THEN named_struct('reason', t._read_error, 'column', t._read_column)
      WHEN t.order_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'order_id')
      WHEN t.customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN t.ordered_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'ordered_at')
      WHEN t.ordered_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'ordered_at')
      WHEN t.ordered_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'ordered_at')
      WHEN t.status IS NULL OR t.status NOT IN ('completed', 'cancelled', 'refunded', 'returned')
        THEN named_struct('reason', 'unknown_status', 'column', 'status')
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12
        THEN named_struct('reason', 'invalid_number', 'column', 'gross_amount')
      WHEN t.gross_amount < 0
        THEN named_struct('reason', 'negative_amount', 'column', 'gross_amount')
      WHEN t.discount_amount IS NULL OR isnan(t.discount_amount) OR abs(t.discount_amount) > 1e12
        THEN named_struct('reason', 'invalid_number', 'column', 'discount_amount')
      WHEN t.discount_amount < 0 OR t.discount_amount > t.gross_amount
        THEN named_struct('reason', 'invalid_discount', 'column', 'discount_amount')
      WHEN t.item_count IS NULL
        THEN named_struct('reason', 'invalid_number', 'column', 'item_count')
      WHEN t.item_count < 1
        THEN named_struct('reason', 'invalid_item_count', 'column', 'item_count')
      WHEN $check_customers AND c.customer_id IS NULL
        THEN named_struct('reason', 'unknown_customer', 'column', 'customer_id')
    END AS _invalid
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
)
SELECT
  order_id,
  customer_id,
  ordered_at,
  status,
  gross_amount,
  discount_amount,
  currency,
  channel,
  category,
  item_count,
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM checked
