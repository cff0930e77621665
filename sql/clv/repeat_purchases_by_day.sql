-- Tracking check of the buy-till-you-die models (the CLV report): repeat purchases per
-- day, up to D (`$as_of_s`: D 00:00 UTC in epoch seconds), of the customers whose first
-- completed order is before the calibration end C (`$calibration_end`). A purchase is a
-- customer's UTC day with at least one completed order (features/purchase_days.sql,
-- included below, as in features/clv_summary.sql); a repeat purchase is any such day
-- after the customer's first.
WITH params AS (
  SELECT
    CAST($calibration_end AS DATE)                                         AS c_day
),
-- @include features/purchase_days.sql
firsts AS (
  SELECT customer_id, min(day) AS first_day
  FROM purchase_days
  GROUP BY customer_id
)
SELECT d.day, CAST(count(*) AS BIGINT) AS repeat_purchases
FROM params p
CROSS JOIN purchase_days d
JOIN firsts f ON f.customer_id = d.customer_id
WHERE f.first_day < p.c_day AND d.day > f.first_day
GROUP BY d.day
ORDER BY d.day
