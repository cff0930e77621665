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
  SELECT o.customer_id, CAST(o.ordered_at AS DATE) AS day
  FROM params p CROSS JOIN orders o
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) < p.d_s
  GROUP BY o.customer_id, CAST(o.ordered_at AS DATE)
),
firsts AS (
  SELECT customer_id, min(day) AS first_day
  FROM days
  GROUP BY customer_id
)
SELECT d.day, CAST(count(*) AS BIGINT) AS repeat_purchases
FROM params p
CROSS JOIN days d
JOIN firsts f ON f.customer_id = d.customer_id
WHERE f.first_day < p.c_day AND d.day > f.first_day
GROUP BY d.day
ORDER BY d.day
