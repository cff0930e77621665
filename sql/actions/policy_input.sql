-- The next-best-action policy's input as of D: one row per scored customer with every
-- column an action's `eligible`, a consent expression or an `uplift-by` may use
-- (docs/policy.md lists them).
--
-- Inputs: `customer_risk` (this run's scores), `features` (features as of D) and
-- `contact_history` (sql/actions/contact_history.sql: per customer and action, the last
-- contact before D and the contacts in the cap window).
-- Parameter: $as_of_s (D 00:00 UTC in epoch seconds).
--
-- Columns: every customer_risk column, every feature column (customer_risk's copy of
-- the shared ones: customer_id, as_of, lifecycle_stage, shopper_type, p_alive), then
--   contacts_in_window      contacts of any action in the policy's cap window before D
--   days_since_last_contact days since the latest contact (NULL: never contacted)
WITH params AS (
  SELECT
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s
),
per_customer AS (
  SELECT
    customer_id,
    CAST(sum(contacts_in_window) AS BIGINT)                                AS contacts_in_window,
    max(last_contacted_at)                                                 AS last_contacted_at
  FROM contact_history
  GROUP BY customer_id
)
SELECT
  r.*,
  f.* EXCLUDE (customer_id, as_of, lifecycle_stage, shopper_type, p_alive),
  COALESCE(h.contacts_in_window, 0)                                        AS contacts_in_window,
  (p.as_of_s - date_part('epoch', h.last_contacted_at)) / 86400.0          AS days_since_last_contact
FROM params p
CROSS JOIN customer_risk r
JOIN features f ON f.customer_id = r.customer_id
LEFT JOIN per_customer h ON h.customer_id = r.customer_id
