-- Tracking check of the buy-till-you-die models (the CLV report): repeat purchases per
-- day, up to D (`$as_of`), of the customers whose first completed order is before the
-- calibration end C (`$calibration_end`). A purchase is a customer's UTC day with at least
-- one completed order (as in features/clv_summary.sql); a repeat purchase is any such day
-- after the customer's first.
WITH params AS (
  SELECT
    CAST($calibration_end AS DATE)                                                        AS c_day,
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS d_s
),
days AS (
  SELECT DISTINCT o.customer_id, CAST(o.ordered_at AS DATE) AS day
  FROM orders o CROSS JOIN params p
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) < p.d_s
),
ranked AS (
  SELECT customer_id, day, min(day) OVER (PARTITION BY customer_id) AS first_day
  FROM days
)
SELECT r.day, CAST(count(*) AS BIGINT) AS repeat_purchases
FROM ranked r CROSS JOIN params p
WHERE r.first_day < p.c_day AND r.day > r.first_day
GROUP BY r.day
ORDER BY r.day
