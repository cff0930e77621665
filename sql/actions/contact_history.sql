-- Contact history as of D, per customer and action: the last contact before D and the
-- number of contacts in the frequency-cap window. The next-best-action stage reads it
-- for cooldowns (per action) and caps (all actions), and `policy_input.sql` for the
-- per-customer columns the policy's expressions may use.
--
-- Input: `contacts` (staged; empty when the shop has none).
-- Parameters: $as_of_s (D 00:00 UTC in epoch seconds), $cap_window_days (the policy's
-- [caps] window-days).
WITH params AS (
  SELECT
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($cap_window_days AS DOUBLE) * 86400.0                             AS window_s
)
SELECT
  c.customer_id,
  c.action,
  max(c.contacted_at)                                                      AS last_contacted_at,
  CAST(max(c.contacted_at) AS DATE)                                        AS last_contacted_on,
  CAST(sum(CASE WHEN date_part('epoch', c.contacted_at) >= p.as_of_s - p.window_s
                THEN 1 ELSE 0 END) AS BIGINT)                              AS contacts_in_window
FROM params p CROSS JOIN contacts c
WHERE date_part('epoch', c.contacted_at) < p.as_of_s
GROUP BY c.customer_id, c.action
