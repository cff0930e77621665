-- Repeat-purchase label as of D (`$as_of`) with a horizon of H days (`$horizon_days`).
--
-- Population: first-time customers — exactly one completed order before D, and that
-- order within the $first_order_window_days days before D.
-- Label: true when the customer completes another order in [D, D + H).
WITH params AS (
  SELECT
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($horizon_days AS DOUBLE) * 86400.0                                AS horizon_s,
    CAST($first_order_window_days AS DOUBLE) * 86400.0                     AS window_s
),
completed AS (
  SELECT customer_id, date_part('epoch', ordered_at) AS t
  FROM orders
  WHERE status = 'completed'
),
population AS (
  SELECT c.customer_id
  FROM params p CROSS JOIN completed c
  WHERE c.t < p.as_of_s
  GROUP BY c.customer_id
  HAVING count(*) = 1 AND max(c.t) >= max(p.as_of_s) - max(p.window_s)
),
bought AS (
  SELECT DISTINCT c.customer_id
  FROM params p CROSS JOIN completed c
  WHERE c.t >= p.as_of_s AND c.t < p.as_of_s + p.horizon_s
)
SELECT
  pop.customer_id,
  CAST($as_of AS DATE)            AS as_of,
  b.customer_id IS NOT NULL       AS label
FROM population pop
LEFT JOIN bought b ON b.customer_id = pop.customer_id
ORDER BY pop.customer_id
