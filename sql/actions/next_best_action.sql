-- Next best action as of D: the default policy. One row per scored customer.
--
-- Inputs: `customer_risk` (this run's scores), `features` (features as of D),
-- `contacts` (past campaign contacts; empty when the shop has none).
-- Parameters: $as_of, $run_id and the [policy.params] of the pipeline file.
--
-- The rules are tried in order; the first that matches wins, so a customer with a bad
-- service experience gets service recovery before any promotion. A customer no rule
-- fits, without consent, or contacted too recently gets `no_action` with the reason.
-- `expected_value` is value_at_risk x the action's assumed uplift - its cost (the
-- `catalogue` below; edit it with your own measured uplifts). An action whose expected
-- value is negative becomes `no_action`, with that as its reason.
WITH params AS (
  SELECT
    CAST($as_of AS DATE)                                                  AS as_of_date,
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS as_of_s
),
catalogue (action, uplift, cost, default_channel) AS (
  VALUES
    ('service_recovery',    0.20, 5.0, 'phone'),
    ('win_back',            0.05, 3.0, 'email'),
    ('welcome_offer',       0.10, 2.0, 'email'),
    ('exclusive_offer',     0.10, 4.0, 'email'),
    ('personal_newsletter', 0.04, 0.1, 'email'),
    ('ambassador_invite',   0.03, 1.0, 'email'),
    ('loyalty_invite',      0.05, 1.0, 'email'),
    ('cross_sell',          0.03, 0.5, 'email'),
    ('no_action',           0.00, 0.0, 'none')
),
last_contact AS (
  SELECT c.customer_id, max(date_part('epoch', c.contacted_at)) AS last_s
  FROM params p CROSS JOIN contacts c
  WHERE date_part('epoch', c.contacted_at) < p.as_of_s
  GROUP BY c.customer_id
),
base AS (
  SELECT
    r.customer_id,
    r.lifecycle_stage,
    r.shopper_type,
    r.churn_probability,
    r.value_at_risk,
    -- Consent as of D: the signup opt-in, withdrawn by any unsubscribe before D.
    CASE WHEN f.unsubscribed = 1 THEN 0 ELSE f.email_opt_in END          AS email_opt_in,
    f.sms_opt_in,
    f.worst_csat_90d,
    f.open_tickets,
    f.reopened_90d,
    f.first_order_days,
    f.revenue_lifetime,
    f.revenue_365d,
    f.category_count,
    f.loyalty_member,
    f.email_opens_90d,
    f.reviews_lifetime + f.referrals_lifetime                             AS promotions,
    (p.as_of_s - lc.last_s) / 86400.0                                     AS days_since_contact
  FROM params p
  CROSS JOIN customer_risk r
  JOIN features f ON f.customer_id = r.customer_id
  LEFT JOIN last_contact lc ON lc.customer_id = r.customer_id
),
decided AS (
  SELECT
    *,
    CASE
      WHEN lifecycle_stage = 'prospect' THEN 'no_action'
      WHEN email_opt_in = 0 AND sms_opt_in = 0 THEN 'no_action'
      WHEN days_since_contact < $contact_cooldown_days THEN 'no_action'
      WHEN (worst_csat_90d <= $bad_csat OR open_tickets > 0 OR reopened_90d > 0)
           AND churn_probability >= $medium_risk THEN 'service_recovery'
      WHEN lifecycle_stage = 'lapsed' AND revenue_lifetime >= $win_back_min_value THEN 'win_back'
      WHEN lifecycle_stage = 'first_time' AND first_order_days <= $welcome_window_days THEN 'welcome_offer'
      WHEN shopper_type = 'transactional' AND churn_probability >= $medium_risk
           AND value_at_risk >= $exclusive_offer_min_value THEN 'exclusive_offer'
      WHEN shopper_type = 'relational' AND churn_probability >= $medium_risk
           AND email_opens_90d > 0 THEN 'personal_newsletter'
      WHEN lifecycle_stage IN ('ambassador', 'returning') AND churn_probability < $medium_risk
           AND revenue_365d >= $ambassador_min_value AND promotions > 0 THEN 'ambassador_invite'
      WHEN (shopper_type = 'relational' OR lifecycle_stage IN ('returning', 'ambassador'))
           AND loyalty_member = 0 AND churn_probability < $high_risk THEN 'loyalty_invite'
      WHEN lifecycle_stage = 'returning' AND category_count <= $cross_sell_max_categories
           AND churn_probability < $medium_risk THEN 'cross_sell'
      ELSE 'no_action'
    END AS candidate,
    CASE
      WHEN lifecycle_stage = 'prospect' THEN 'prospect: no order yet, not scored'
      WHEN email_opt_in = 0 AND sms_opt_in = 0 THEN 'no marketing consent'
      WHEN days_since_contact < $contact_cooldown_days THEN 'contacted in the last ' || CAST($contact_cooldown_days AS VARCHAR) || ' days'
      WHEN (worst_csat_90d <= $bad_csat OR open_tickets > 0 OR reopened_90d > 0)
           AND churn_probability >= $medium_risk THEN 'bad recent support experience and elevated churn risk'
      WHEN lifecycle_stage = 'lapsed' AND revenue_lifetime >= $win_back_min_value THEN 'lapsed customer with high past value'
      WHEN lifecycle_stage = 'first_time' AND first_order_days <= $welcome_window_days THEN 'first order in the last ' || CAST($welcome_window_days AS VARCHAR) || ' days'
      WHEN shopper_type = 'transactional' AND churn_probability >= $medium_risk
           AND value_at_risk >= $exclusive_offer_min_value THEN 'transactional shopper at risk, value worth an offer'
      WHEN shopper_type = 'relational' AND churn_probability >= $medium_risk
           AND email_opens_90d > 0 THEN 'relational shopper engaged with content, at risk'
      WHEN lifecycle_stage IN ('ambassador', 'returning') AND churn_probability < $medium_risk
           AND revenue_365d >= $ambassador_min_value AND promotions > 0 THEN 'high value, low risk, reviews or referrals'
      WHEN (shopper_type = 'relational' OR lifecycle_stage IN ('returning', 'ambassador'))
           AND loyalty_member = 0 AND churn_probability < $high_risk THEN 'returning or relational customer not in the loyalty programme'
      WHEN lifecycle_stage = 'returning' AND category_count <= $cross_sell_max_categories
           AND churn_probability < $medium_risk THEN 'low risk, buys in few categories'
      ELSE 'no action worth its cost'
    END AS candidate_reason
  FROM base
),
valued AS (
  SELECT
    d.*,
    k.default_channel,
    round(COALESCE(d.value_at_risk, 0.0) * k.uplift - k.cost, 2)          AS action_value
  FROM decided d
  JOIN catalogue k ON k.action = d.candidate
),
final AS (
  SELECT
    *,
    -- An action whose expected value does not cover its cost is not taken.
    CASE WHEN candidate <> 'no_action' AND action_value < 0 THEN 'no_action'
         ELSE candidate END                                               AS action,
    CASE WHEN candidate <> 'no_action' AND action_value < 0
         THEN 'expected value does not cover the cost of ' || candidate
         ELSE candidate_reason END                                        AS reason
  FROM valued
)
SELECT
  f.customer_id,
  f.action,
  CASE
    WHEN f.action = 'no_action' THEN 'none'
    WHEN f.default_channel = 'email' AND f.email_opt_in = 0 THEN 'sms'
    ELSE f.default_channel
  END                                                                     AS channel,
  CAST(CASE f.action
    WHEN 'service_recovery' THEN 1 WHEN 'win_back' THEN 2 WHEN 'welcome_offer' THEN 3
    WHEN 'exclusive_offer' THEN 4 WHEN 'personal_newsletter' THEN 5
    WHEN 'ambassador_invite' THEN 6 WHEN 'loyalty_invite' THEN 7 WHEN 'cross_sell' THEN 8
    ELSE 99 END AS INT)                                                   AS priority,
  CASE WHEN f.action = 'no_action' THEN 0.0 ELSE f.action_value END       AS expected_value,
  f.reason,
  p.as_of_date + CAST($valid_days AS INT)                                 AS valid_until,
  CAST($run_id AS VARCHAR)                                                AS run_id
FROM params p
CROSS JOIN final f
ORDER BY f.customer_id
