-- Customer features as of a date D (`$as_of`), one row per customer known before D.
--
-- Point in time: only facts strictly before D 00:00 UTC are used. A ticket opened before
-- D and resolved at or after D counts as open at D, and its CSAT (given at resolution) is
-- not yet known. Nothing here may read a row at or after D.
--
-- Inputs: the staged tables `customers`, `orders`, `support_tickets`,
-- `engagement_events` (a source the shop lacks is an empty table, and its features come
-- out null or 0 as documented in docs/features.md).
-- Parameters: $as_of (DATE), $lapsed_after_days, $ambassador_min_promotions,
-- $transactional_min_discount_share, $relational_min_content_per_order.
WITH params AS (
  SELECT
    CAST($as_of AS DATE)                                                  AS as_of_date,
    arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))') AS as_of
),
o AS (
  SELECT
    o.customer_id,
    o.order_id,
    o.ordered_at,
    o.status,
    o.gross_amount - o.discount_amount                                     AS net_amount,
    o.discount_amount,
    o.category,
    (date_part('epoch', p.as_of) - date_part('epoch', o.ordered_at)) / 86400.0 AS age_days
  FROM orders o CROSS JOIN params p
  WHERE o.ordered_at < p.as_of
),
first_order AS (
  SELECT customer_id, ordered_at, status, discount_amount
  FROM (
    SELECT customer_id, ordered_at, status, discount_amount,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS rn
    FROM o
  ) WHERE rn = 1
),
ord AS (
  SELECT
    customer_id,
    count(*)                                                               AS orders_all,
    count(*) FILTER (WHERE status = 'completed')                           AS orders_lifetime,
    count(*) FILTER (WHERE status = 'completed' AND age_days <= 90)        AS orders_90d,
    count(*) FILTER (WHERE status = 'completed' AND age_days > 90 AND age_days <= 180) AS orders_prev_90d,
    count(*) FILTER (WHERE status = 'completed' AND age_days <= 365)       AS orders_365d,
    -- Sums are rounded to cents: parallel partial sums add in varying order, and the
    -- same inputs must give the same bytes.
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed'), 0), 2) AS revenue_lifetime,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days <= 90), 0), 2)  AS revenue_90d,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days <= 365), 0), 2) AS revenue_365d,
    min(age_days) FILTER (WHERE status = 'completed')                      AS recency_days,
    max(age_days) FILTER (WHERE status = 'completed')                      AS first_order_days,
    avg(CASE WHEN discount_amount > 0 THEN 1.0 ELSE 0.0 END)               AS discount_share,
    avg(CASE WHEN status IN ('returned', 'refunded', 'cancelled') THEN 1.0 ELSE 0.0 END) AS returned_share,
    count(DISTINCT category)                                               AS category_count
  FROM o
  GROUP BY customer_id
),
t AS (
  SELECT
    t.customer_id,
    t.opened_at,
    -- Resolution and CSAT only count once they happened before D.
    CASE WHEN t.resolved_at < p.as_of THEN t.resolved_at END                AS resolved_at,
    CASE WHEN t.resolved_at < p.as_of THEN t.csat_score END                 AS csat_score,
    t.reopened_count,
    (date_part('epoch', p.as_of) - date_part('epoch', t.opened_at)) / 86400.0 AS age_days
  FROM support_tickets t CROSS JOIN params p
  WHERE t.opened_at < p.as_of
),
tick AS (
  SELECT
    customer_id,
    count(*) FILTER (WHERE age_days <= 90)                                 AS tickets_90d,
    count(*) FILTER (WHERE resolved_at IS NULL)                            AS open_tickets,
    COALESCE(sum(reopened_count) FILTER (WHERE age_days <= 90), 0)         AS reopened_90d,
    min(csat_score) FILTER (WHERE age_days <= 90)                          AS worst_csat_90d,
    min(age_days)                                                          AS days_since_ticket
  FROM t
  GROUP BY customer_id
),
last_csat AS (
  SELECT customer_id, csat_score AS last_csat
  FROM (
    SELECT customer_id, csat_score,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY resolved_at DESC, opened_at DESC) AS rn
    FROM t WHERE csat_score IS NOT NULL
  ) WHERE rn = 1
),
first_ticket AS (
  -- A ticket within 14 days after the first order marks a bad first experience.
  SELECT f.customer_id, count(t.opened_at) AS n
  FROM first_order f
  LEFT JOIN t ON t.customer_id = f.customer_id
             AND t.opened_at >= f.ordered_at
             AND t.opened_at < f.ordered_at + INTERVAL '14 days'
  GROUP BY f.customer_id
),
e AS (
  SELECT
    e.customer_id,
    e.event_type,
    (date_part('epoch', p.as_of) - date_part('epoch', e.occurred_at)) / 86400.0 AS age_days
  FROM engagement_events e CROSS JOIN params p
  WHERE e.occurred_at < p.as_of
),
eng AS (
  SELECT
    customer_id,
    count(*) FILTER (WHERE event_type = 'email_open' AND age_days <= 90)   AS email_opens_90d,
    count(*) FILTER (WHERE event_type = 'email_click' AND age_days <= 90)  AS email_clicks_90d,
    count(*) FILTER (WHERE event_type IN ('web_session', 'app_session') AND age_days <= 90) AS sessions_90d,
    count(*) FILTER (WHERE event_type IN ('web_session', 'app_session') AND age_days > 90 AND age_days <= 180) AS sessions_prev_90d,
    count(*) FILTER (WHERE event_type = 'review')                          AS reviews_lifetime,
    count(*) FILTER (WHERE event_type = 'referral')                        AS referrals_lifetime,
    count(*) FILTER (WHERE event_type = 'loyalty_redeem' AND age_days <= 365) AS loyalty_redeems_365d,
    count(*) FILTER (WHERE event_type IN ('email_open', 'email_click', 'review', 'loyalty_redeem')) AS content_events_lifetime,
    max(CASE WHEN event_type = 'unsubscribe' THEN 1 ELSE 0 END)            AS unsubscribed,
    min(age_days) FILTER (WHERE event_type <> 'unsubscribe')               AS days_since_engagement
  FROM e
  GROUP BY customer_id
),
universe AS (
  SELECT c.customer_id FROM customers c CROSS JOIN params p WHERE c.signup_at < p.as_of
  UNION
  SELECT customer_id FROM o
),
joined AS (
  SELECT
    u.customer_id,
    p.as_of_date                                                           AS as_of,
    c.signup_at,
    c.loyalty_member,
    c.email_opt_in,
    c.sms_opt_in,
    c.birth_date,
    ord.*,
    tick.tickets_90d, tick.open_tickets, tick.reopened_90d, tick.worst_csat_90d, tick.days_since_ticket,
    last_csat.last_csat,
    f.status AS first_status, f.discount_amount AS first_discount, f.ordered_at AS first_ordered_at,
    ft.n AS first_tickets,
    eng.email_opens_90d, eng.email_clicks_90d, eng.sessions_90d, eng.sessions_prev_90d,
    eng.reviews_lifetime, eng.referrals_lifetime, eng.loyalty_redeems_365d,
    eng.content_events_lifetime, eng.unsubscribed, eng.days_since_engagement,
    (date_part('epoch', p.as_of)
      - date_part('epoch', COALESCE(c.signup_at, f.ordered_at))) / 86400.0 AS tenure_days_raw
  FROM universe u
  CROSS JOIN params p
  LEFT JOIN customers c    ON c.customer_id = u.customer_id
  LEFT JOIN ord            ON ord.customer_id = u.customer_id
  LEFT JOIN tick           ON tick.customer_id = u.customer_id
  LEFT JOIN last_csat      ON last_csat.customer_id = u.customer_id
  LEFT JOIN first_order f  ON f.customer_id = u.customer_id
  LEFT JOIN first_ticket ft ON ft.customer_id = u.customer_id
  LEFT JOIN eng            ON eng.customer_id = u.customer_id
),
feat AS (
  SELECT
    customer_id,
    as_of,
    -- Orders
    tenure_days_raw                                                        AS tenure_days,
    recency_days,
    first_order_days,
    COALESCE(orders_lifetime, 0)                                           AS orders_lifetime,
    COALESCE(orders_90d, 0)                                                AS orders_90d,
    COALESCE(orders_prev_90d, 0)                                           AS orders_prev_90d,
    COALESCE(orders_365d, 0)                                               AS orders_365d,
    COALESCE(revenue_lifetime, 0.0)                                        AS revenue_lifetime,
    COALESCE(revenue_90d, 0.0)                                             AS revenue_90d,
    COALESCE(revenue_365d, 0.0)                                            AS revenue_365d,
    revenue_lifetime / NULLIF(orders_lifetime, 0)                          AS avg_order_value,
    CASE WHEN orders_lifetime >= 2
         THEN (first_order_days - recency_days) / (orders_lifetime - 1) END AS mean_days_between_orders,
    CASE WHEN orders_lifetime >= 2 AND first_order_days > recency_days
         THEN recency_days / ((first_order_days - recency_days) / (orders_lifetime - 1)) END AS overdue_ratio,
    discount_share,
    returned_share,
    COALESCE(category_count, 0)                                            AS category_count,
    CASE WHEN first_status IS NULL THEN NULL
         WHEN first_status IN ('returned', 'refunded', 'cancelled') THEN 1 ELSE 0 END AS first_order_returned,
    CASE WHEN first_status IS NULL THEN NULL
         WHEN first_discount > 0 THEN 1 ELSE 0 END                         AS first_order_discounted,
    CASE WHEN first_status IS NULL THEN NULL
         WHEN first_tickets > 0 THEN 1 ELSE 0 END                          AS first_order_ticket,
    -- Support
    COALESCE(tickets_90d, 0)                                               AS tickets_90d,
    COALESCE(open_tickets, 0)                                              AS open_tickets,
    COALESCE(reopened_90d, 0)                                              AS reopened_90d,
    worst_csat_90d,
    CAST(COALESCE(worst_csat_90d, 5) AS DOUBLE)                            AS worst_csat_90d_or_5,
    last_csat,
    days_since_ticket,
    -- Engagement
    COALESCE(email_opens_90d, 0)                                           AS email_opens_90d,
    COALESCE(email_clicks_90d, 0)                                          AS email_clicks_90d,
    COALESCE(sessions_90d, 0)                                              AS sessions_90d,
    COALESCE(sessions_prev_90d, 0)                                         AS sessions_prev_90d,
    CAST(COALESCE(sessions_90d, 0) - COALESCE(sessions_prev_90d, 0) AS DOUBLE)
      / (COALESCE(sessions_90d, 0) + COALESCE(sessions_prev_90d, 0) + 1)  AS sessions_trend,
    COALESCE(reviews_lifetime, 0)                                          AS reviews_lifetime,
    COALESCE(referrals_lifetime, 0)                                        AS referrals_lifetime,
    COALESCE(loyalty_redeems_365d, 0)                                      AS loyalty_redeems_365d,
    COALESCE(unsubscribed, 0)                                              AS unsubscribed,
    -- Never engaged: counted from the start of tenure.
    COALESCE(days_since_engagement, tenure_days_raw)                       AS days_since_engagement,
    -- Customer
    CASE WHEN loyalty_member THEN 1 ELSE 0 END                             AS loyalty_member,
    CASE WHEN email_opt_in THEN 1 ELSE 0 END                               AS email_opt_in,
    CASE WHEN sms_opt_in THEN 1 ELSE 0 END                                 AS sms_opt_in,
    COALESCE(content_events_lifetime, 0)                                   AS content_events_lifetime
  FROM joined
)
SELECT
  feat.*,
  CASE
    WHEN orders_lifetime = 0 THEN 'prospect'
    WHEN recency_days > $lapsed_after_days THEN 'lapsed'
    WHEN orders_lifetime >= 2
         AND reviews_lifetime + referrals_lifetime >= $ambassador_min_promotions THEN 'ambassador'
    WHEN orders_lifetime >= 2 THEN 'returning'
    ELSE 'first_time'
  END AS lifecycle_stage,
  CASE
    WHEN orders_lifetime = 0 AND content_events_lifetime = 0 THEN 'unknown'
    WHEN COALESCE(discount_share, 0) / $transactional_min_discount_share
         >= GREATEST(1.0, CAST(content_events_lifetime AS DOUBLE) / GREATEST(orders_lifetime, 1) / $relational_min_content_per_order)
      THEN 'transactional'
    WHEN CAST(content_events_lifetime AS DOUBLE) / GREATEST(orders_lifetime, 1) >= $relational_min_content_per_order
         OR loyalty_member = 1
      THEN 'relational'
    ELSE 'unknown'
  END AS shopper_type
FROM feat
ORDER BY customer_id
