-- The next-best-action policy's input as of D: one row per scored customer with every
-- column an action's `eligible`, a consent expression or an `uplift-by` may use
-- (docs/policy.md lists them).
--
-- Inputs: `customer_risk` (this run's scores), `features` (features as of D) and
-- `contacts` (past campaign contacts; empty when the shop has none).
-- Parameters: $as_of, $cap_window_days (the policy's [caps] window-days).
--
-- Columns: every customer_risk column, every feature column (customer_risk's copy of
-- the shared ones: customer_id, as_of, lifecycle_stage, shopper_type, p_alive), then
-- the contact history before D:
--   contacts_in_window      contacts of any action in the last $cap_window_days days
--   days_since_last_contact days since the latest contact (NULL: never contacted)
--   contacted_actions       each action ever sent (sorted) ...
--   last_contacted_on       ... and the day it was last sent (for cooldowns)
WITH params AS (
  SELECT
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS as_of_s,
    CAST($cap_window_days AS DOUBLE) * 86400.0                             AS window_s
),
history AS (
  SELECT
    c.customer_id,
    c.action,
    max(c.contacted_at)                                                    AS last_at,
    sum(CASE WHEN date_part('epoch', c.contacted_at) >= p.as_of_s - p.window_s
             THEN 1 ELSE 0 END)                                            AS in_window
  FROM params p CROSS JOIN contacts c
  WHERE date_part('epoch', c.contacted_at) < p.as_of_s
  GROUP BY c.customer_id, c.action
),
per_customer AS (
  SELECT
    customer_id,
    CAST(sum(in_window) AS BIGINT)                                         AS contacts_in_window,
    max(last_at)                                                           AS last_contacted_at,
    array_agg(action ORDER BY action)                                      AS contacted_actions,
    array_agg(CAST(last_at AS DATE) ORDER BY action)                       AS last_contacted_on
  FROM history
  GROUP BY customer_id
)
SELECT
  r.*,
  f.* EXCLUDE (customer_id, as_of, lifecycle_stage, shopper_type, p_alive),
  COALESCE(h.contacts_in_window, 0)                                        AS contacts_in_window,
  (p.as_of_s - date_part('epoch', h.last_contacted_at)) / 86400.0          AS days_since_last_contact,
  h.contacted_actions,
  h.last_contacted_on
FROM params p
CROSS JOIN customer_risk r
JOIN features f ON f.customer_id = r.customer_id
LEFT JOIN per_customer h ON h.customer_id = r.customer_id
