-- Holdout check of the buy-till-you-die models (the CLV report): for every customer whose
-- first completed order is before the calibration end C (`$calibration_end`), the repeat
-- purchases they made in the holdout period [C, D) (`$as_of`).
-- Purchases are counted as in features/clv_summary.sql: one per customer and UTC day with
-- at least one completed order, so they compare with the model's expectation.
WITH params AS (
  SELECT
    CAST($calibration_end AS DATE)                                                        AS c_day,
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS d_s
),
days AS (
  -- One row per customer and purchase day before D.
  SELECT o.customer_id, CAST(o.ordered_at AS DATE) AS day
  FROM params p CROSS JOIN orders o
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) < p.d_s
  GROUP BY o.customer_id, CAST(o.ordered_at AS DATE)
)
SELECT
  d.customer_id,
  CAST(sum(CASE WHEN d.day >= p.c_day THEN 1 ELSE 0 END) AS BIGINT)            AS holdout_purchases
FROM params p CROSS JOIN days d
GROUP BY d.customer_id, p.c_day
HAVING min(d.day) < p.c_day
ORDER BY d.customer_id
