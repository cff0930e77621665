-- Staging: a bare transaction log -> canonical `orders`.
--
-- For shops whose only export is one line per purchase: `customer_id`, `ordered_at` (a
-- timestamp or a date) and `amount`. Use it from a pipeline file:
--
--   [sources.orders]
--   path = "transactions.csv"
--   staging = "staging/orders_from_transactions.sql"
--
-- Input  `raw_orders` (the log, with the reader's provenance columns, see
--        staging/orders.sql) and the staged `customers` (empty unless the pipeline has a
--        customers source).
-- Params $timestamp_format, $valid_from, $valid_until, $check_customers (see
--        staging/orders.sql).
-- Output: the canonical orders, then `_invalid`, `_read_detail`, `_source_file`,
--         `_source_row` (see staging/orders.sql). What the log does not say is filled
--         with neutral values: status 'completed' (refunds, if the log has them, are
--         negative amounts and are quarantined as negative_amount), no discount,
--         item_count 1, currency, channel and category null.
-- Ids:    a log has no order id, so one is made from the values: customer, time, amount
--         and the rank among identical lines (`C1|2025-03-01T12:00:00Z|25.5|1`). Two
--         identical lines are two purchases: the ids differ, so the pipeline's
--         deduplication by order_id (contract.rs) removes nothing.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    parse_timestamp(ordered_at, $timestamp_format)                         AS ordered_at,
    TRY_CAST(trim(CAST(amount AS VARCHAR)) AS DOUBLE)                      AS gross_amount,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_orders
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t._read_error IS NOT NULL
        THEN named_struct('reason', t._read_error, 'column', t._read_column)
      WHEN t.customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN t.ordered_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'ordered_at')
      WHEN t.ordered_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'ordered_at')
      WHEN t.ordered_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'ordered_at')
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12
        THEN named_struct('reason', 'invalid_number', 'column', 'amount')
      WHEN t.gross_amount < 0
        THEN named_struct('reason', 'negative_amount', 'column', 'amount')
      WHEN $check_customers AND c.customer_id IS NULL
        THEN named_struct('reason', 'unknown_customer', 'column', 'customer_id')
    END AS _invalid
  -- customers first: the (small) customers table is the hash join's build side and the
  -- export streams past it; written the other way round the export is held in memory.
  FROM customers c
  RIGHT JOIN typed t ON c.customer_id = t.customer_id
),
numbered AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY customer_id, ordered_at, gross_amount
      ORDER BY get_field(_invalid, 'reason') NULLS FIRST
    ) AS _nth
  FROM checked
)
SELECT
  concat_ws('|', customer_id, CAST(ordered_at AS VARCHAR), CAST(gross_amount AS VARCHAR), CAST(_nth AS VARCHAR)) AS order_id,
  customer_id,
  ordered_at,
  'completed'                        AS status,
  gross_amount,
  CAST(0.0 AS DOUBLE)                AS discount_amount,
  CAST(NULL AS VARCHAR)              AS currency,
  CAST(NULL AS VARCHAR)              AS channel,
  CAST(NULL AS VARCHAR)              AS category,
  CAST(1 AS BIGINT)                  AS item_count,
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM numbered
