-- Churn label as of D (`$as_of`) with a horizon of H days (`$horizon_days`).
--
-- Population: established customers — at least one completed order before D, the last
-- one no more than $max_recency_days before D (customers gone longer are not "churning",
-- they are gone).
-- Label: true when the customer has no completed order in [D, D + H).
-- Only the population uses facts before D; only the label looks at [D, D + H).
WITH params AS (
  SELECT
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($horizon_days AS DOUBLE) * 86400.0                                AS horizon_s,
    CAST($max_recency_days AS DOUBLE) * 86400.0                            AS max_recency_s
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
  HAVING max(c.t) >= max(p.as_of_s) - max(p.max_recency_s)
),
bought AS (
  SELECT DISTINCT c.customer_id
  FROM params p CROSS JOIN completed c
  WHERE c.t >= p.as_of_s AND c.t < p.as_of_s + p.horizon_s
)
SELECT
  pop.customer_id,
  CAST($as_of AS DATE)            AS as_of,
  b.customer_id IS NULL           AS label
FROM population pop
LEFT JOIN bought b ON b.customer_id = pop.customer_id
ORDER BY pop.customer_id
