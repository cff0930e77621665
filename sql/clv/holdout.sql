-- Holdout check of the buy-till-you-die models (the CLV report): for every customer whose
-- first completed order is before the calibration end C (`$calibration_end`), the repeat
-- purchases they made in the holdout period [C, D) (`$as_of_s`: D 00:00 UTC in epoch
-- seconds).
-- Purchases are counted as in features/clv_summary.sql (both include
-- features/purchase_days.sql): one per customer and UTC day with at least one completed
-- order, so they compare with the model's expectation.
WITH
-- One row per customer and purchase day before D.
-- @include features/purchase_days.sql
params AS (
  SELECT
    CAST($calibration_end AS DATE)                                         AS c_day
)
SELECT
  d.customer_id,
  CAST(sum(CASE WHEN d.day >= p.c_day THEN 1 ELSE 0 END) AS BIGINT)            AS holdout_purchases
FROM params p CROSS JOIN purchase_days d
GROUP BY d.customer_id, p.c_day
HAVING min(d.day) < p.c_day
ORDER BY d.customer_id
