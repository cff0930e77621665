-- Outcomes of a next-best-action partition (for `retain evaluate-actions`): per action
-- and group (treated or control), customers, those with a completed order in
-- [D, D + $horizon_days), and the revenue (gross - discount) of those orders, with its
-- sum of squares for the confidence interval.
--
-- Inputs: `decisions` (scores/next_best_action as of D) and `orders` (staged orders,
-- re-ingested after D). Parameters: $as_of_s (D 00:00 UTC in epoch seconds),
-- $horizon_days.
WITH params AS (
  SELECT
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($horizon_days AS DOUBLE) * 86400.0                                AS horizon_s
),
outcome AS (
  SELECT o.customer_id, sum(o.gross_amount - o.discount_amount) AS revenue
  FROM params p CROSS JOIN orders o
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) >= p.as_of_s
    AND date_part('epoch', o.ordered_at) < p.as_of_s + p.horizon_s
  GROUP BY o.customer_id
)
SELECT
  d.action,
  d.control,
  CAST(count(*) AS BIGINT)                                                 AS customers,
  CAST(count(o.customer_id) AS BIGINT)                                     AS buyers,
  COALESCE(sum(o.revenue), 0.0)                                            AS revenue,
  COALESCE(sum(o.revenue * o.revenue), 0.0)                                AS revenue_sq
FROM decisions d
LEFT JOIN outcome o ON o.customer_id = d.customer_id
WHERE d.action <> 'no_action'
GROUP BY d.action, d.control
ORDER BY d.action, d.control
