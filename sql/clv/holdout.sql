-- Holdout check of the buy-till-you-die models (the CLV report): for every customer whose
-- first completed order is before the calibration end C (`$calibration_end`), the repeat
-- purchases they made in the holdout period [C, D) (`$as_of`).
-- Purchases are counted as in features/clv_summary.sql: one per customer and UTC day with
-- at least one completed order, so they compare with the model's expectation.
WITH params AS (
  SELECT
    date_part('epoch', arrow_cast(CAST($calibration_end AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS c_s,
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))'))           AS d_s
),
days AS (
  SELECT DISTINCT o.customer_id, CAST(o.ordered_at AS DATE) AS day, date_part('epoch', o.ordered_at) AS at_s
  FROM orders o CROSS JOIN params p
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) < p.d_s
),
per_customer AS (
  SELECT
    d.customer_id,
    min(d.at_s)                                                       AS first_s,
    count(DISTINCT CASE WHEN d.at_s >= p.c_s THEN d.day END)          AS holdout_purchases
  FROM days d CROSS JOIN params p
  GROUP BY d.customer_id
)
SELECT c.customer_id, CAST(c.holdout_purchases AS BIGINT) AS holdout_purchases
FROM per_customer c CROSS JOIN params p
WHERE c.first_s < p.c_s
ORDER BY c.customer_id
