-- Staging: raw campaign contacts -> canonical `contacts` (used for frequency caps).
--
-- Dedup:  exact repeats of (customer_id, action, contacted_at) are one contact.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    NULLIF(lower(trim(CAST(action AS VARCHAR))), '')                       AS action,
    arrow_cast(TRY_CAST(trim(CAST(contacted_at AS VARCHAR)) AS TIMESTAMP),
               'Timestamp(Microsecond, Some("UTC"))')                      AS contacted_at
  FROM raw_contacts
),
checked AS (
  SELECT
    t.*,
    CASE
      WHEN t.customer_id IS NULL OR t.action IS NULL THEN 'missing_value'
      WHEN t.contacted_at IS NULL THEN 'invalid_timestamp'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'unknown_customer'
    END AS _invalid_reason,
    CASE
      WHEN t.customer_id IS NULL THEN 'customer_id'
      WHEN t.action IS NULL THEN 'action'
      WHEN t.contacted_at IS NULL THEN 'contacted_at'
      WHEN $check_customers AND c.customer_id IS NULL THEN 'customer_id'
    END AS _invalid_column
  FROM typed t
  LEFT JOIN customers c ON c.customer_id = t.customer_id
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY customer_id, action, contacted_at, _invalid_reason IS NULL
      ORDER BY customer_id
    ) AS _rank
  FROM checked
)
SELECT
  customer_id,
  action,
  contacted_at,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _rank > 1 THEN 'duplicate_key' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _rank > 1 THEN 'contacted_at' END AS _reject_column
FROM ranked
-- Sorted by customer and time (see staging/orders.sql).
ORDER BY customer_id, contacted_at, action
