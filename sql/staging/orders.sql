-- Staging: raw orders export -> canonical `orders`.
--
-- Input  `raw_orders`: the export as read (CSV/NDJSON columns arrive as text), plus the
--        reader's provenance: `_source_file`, `_source_row` and, for a record that could
--        not be parsed, `_read_error` / `_read_column` / `_read_detail`.
--        The staged `customers` (for the reference check; an orders-only pipeline gets
--        an empty `customers` and skips it via $check_customers).
-- Params $timestamp_format  chrono format of local timestamps ('' = ISO-8601 only)
--        $valid_from        earliest plausible timestamp (older: out_of_range_date)
--        $valid_until       end of the as-of day (later: future_date)
-- Output: canonical columns, then `_reject_reason`, `_reject_column`, `_reject_detail`,
--         `_source_file`, `_source_row`. Rows with a reason go to quarantine/orders/
--         (all but `exact_duplicate`, which is counted as a duplicate removed).
-- Rules:  amounts are non-negative, discount <= gross, item_count >= 1, status is one of
--         completed / cancelled / refunded / returned, customer_id is known, ordered_at
--         is within [$valid_from, $valid_until).
-- Dedup:  one row per order_id. Versions of an order are ranked by (ordered_at, then
--         every other column); the first is staged, copies identical to it are
--         `exact_duplicate`, other versions are quarantined as `duplicate_key`. The
--         choice depends only on the values, never on file or row order.
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
      WHEN t._read_error IS NOT NULL THEN t._read_error
      WHEN t.order_id IS NULL THEN 'missing_value'
      WHEN t.customer_id IS NULL THEN 'missing_value'
      WHEN t.ordered_at IS NULL THEN 'invalid_timestamp'
      WHEN t.ordered_at < $valid_from THEN 'out_of_range_date'
      WHEN t.ordered_at >= $valid_until THEN 'future_date'
      WHEN t.status IS NULL OR t.status NOT IN ('completed', 'cancelled', 'refunded', 'returned') THEN 'unknown_status'
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12 THEN 'invalid_number'
      WHEN t.gross_amount < 0 THEN 'negative_amount'
      WHEN t.discount_amount IS NULL OR isnan(t.discount_amount) OR abs(t.discount_amount) > 1e12 THEN 'invalid_number'
      WHEN t.discount_amount < 0 OR t.discount_amount > t.gross_amount THEN 'invalid_discount'
      WHEN t.item_count IS NULL THEN 'invalid_number'
      WHEN t.item_count < 1 THEN 'invalid_item_count'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t._read_error IS NOT NULL THEN t._read_column
      WHEN t.order_id IS NULL THEN 'order_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.ordered_at IS NULL OR t.ordered_at < $valid_from OR t.ordered_at >= $valid_until THEN 'ordered_at'
      WHEN t.status IS NULL OR t.status NOT IN ('completed', 'cancelled', 'refunded', 'returned') THEN 'status'
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12 OR t.gross_amount < 0 THEN 'gross_amount'
      WHEN t.discount_amount IS NULL OR isnan(t.discount_amount) OR abs(t.discount_amount) > 1e12 OR t.discount_amount < 0 OR t.discount_amount > t.gross_amount THEN 'discount_amount'
      WHEN t.item_count IS NULL OR t.item_count < 1 THEN 'item_count'
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
    PARTITION BY order_id, _invalid_reason IS NULL
    ORDER BY ordered_at, customer_id, status, gross_amount, discount_amount, currency, channel, category, item_count
  )
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
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _version > 1 THEN 'duplicate_key'
       WHEN _copy > 1 THEN 'exact_duplicate' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _copy > 1 THEN 'order_id' END AS _reject_column,
  CASE WHEN _invalid_reason IS NOT NULL THEN _read_detail
       WHEN _version > 1 THEN 'another row with this order_id has different values and was staged' END AS _reject_detail,
  _source_file,
  _source_row
FROM ranked
-- Sorted by customer and time: reruns write the same rows in the same order, and
-- the feature queries read clustered row groups.
ORDER BY customer_id, ordered_at, order_id, _source_file, _source_row
