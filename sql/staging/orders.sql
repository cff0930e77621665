-- Staging: raw orders export -> canonical `orders`.
--
-- Input  `raw_orders` (text columns) and the staged `customers` (for the reference
--        check; an orders-only pipeline gets an empty `customers` and skips it via
--        $check_customers).
-- Output: canonical columns plus `_reject_reason` / `_reject_column`.
-- Rules:  amounts are non-negative, discount <= gross, item_count >= 1, status is one of
--         completed / cancelled / refunded / returned, customer_id is known.
-- Dedup:  one row per order_id; the earliest ordered_at wins, ties broken by the other
--         columns so the choice does not depend on file order.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(order_id AS VARCHAR)), '')                            AS order_id,
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    arrow_cast(TRY_CAST(trim(CAST(ordered_at AS VARCHAR)) AS TIMESTAMP),
               'Timestamp(Microsecond, Some("UTC"))')                      AS ordered_at,
    lower(trim(CAST(status AS VARCHAR)))                                   AS status,
    TRY_CAST(trim(CAST(gross_amount AS VARCHAR)) AS DOUBLE)                AS gross_amount,
    TRY_CAST(trim(CAST(discount_amount AS VARCHAR)) AS DOUBLE)             AS discount_amount,
    upper(trim(CAST(currency AS VARCHAR)))                                 AS currency,
    lower(trim(CAST(channel AS VARCHAR)))                                  AS channel,
    lower(trim(CAST(category AS VARCHAR)))                                 AS category,
    TRY_CAST(trim(CAST(item_count AS VARCHAR)) AS BIGINT)                  AS item_count
  FROM raw_orders
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t.order_id IS NULL THEN 'missing_value'
      WHEN t.customer_id IS NULL THEN 'missing_value'
      WHEN t.ordered_at IS NULL THEN 'invalid_timestamp'
      WHEN t.status IS NULL OR t.status NOT IN ('completed', 'cancelled', 'refunded', 'returned') THEN 'unknown_status'
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12 THEN 'invalid_number'
      WHEN t.gross_amount < 0 THEN 'negative_amount'
      WHEN t.discount_amount IS NULL OR isnan(t.discount_amount) THEN 'invalid_number'
      WHEN t.discount_amount < 0 OR t.discount_amount > t.gross_amount THEN 'invalid_discount'
      WHEN t.item_count IS NULL THEN 'invalid_number'
      WHEN t.item_count < 1 THEN 'invalid_item_count'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t.order_id IS NULL THEN 'order_id'
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.ordered_at IS NULL THEN 'ordered_at'
      WHEN t.status IS NULL OR t.status NOT IN ('completed', 'cancelled', 'refunded', 'returned') THEN 'status'
      WHEN t.gross_amount IS NULL OR isnan(t.gross_amount) OR abs(t.gross_amount) > 1e12 OR t.gross_amount < 0 THEN 'gross_amount'
      WHEN t.discount_amount IS NULL OR isnan(t.discount_amount) OR t.discount_amount < 0 OR t.discount_amount > t.gross_amount THEN 'discount_amount'
      WHEN t.item_count IS NULL OR t.item_count < 1 THEN 'item_count'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'customer_id'
    END AS _invalid_column
  FROM typed t
  LEFT JOIN customers c ON c.customer_id = t.customer_id
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY order_id, _invalid_reason IS NULL
      ORDER BY ordered_at, customer_id, status, gross_amount, discount_amount, channel, category, item_count
    ) AS _rank
  FROM checked
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
       WHEN _rank > 1 THEN 'duplicate_key' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _rank > 1 THEN 'order_id' END AS _reject_column
FROM ranked
-- Sorted by customer and time: reruns write the same rows in the same order, and
-- the feature queries read clustered row groups.
ORDER BY customer_id, ordered_at, order_id
