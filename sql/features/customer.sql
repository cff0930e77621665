-- Customer features as of a date D (`$as_of`): one row per customer known before D.
--
-- THE BOUNDARY RULE. Features as of D use only facts with a timestamp strictly before
-- D 00:00 UTC. An order placed at exactly D 00:00 is not seen. A ticket opened before D
-- and resolved at or after D is open at D: its resolution, its CSAT (given at
-- resolution) and its reopen count (only final once the ticket is resolved) are not yet
-- known. Offers count towards the response rate only when their response window closed
-- before D. Customer attributes (opt-ins, loyalty membership, birth date) have no
-- history in the staged contract and are read as exported: the one input that is not
-- point in time (docs/features.md says so).
--
-- A customer is known at D when they signed up before D or placed an order before D.
--
-- ABSENT SOURCES. `$has_customers`, `$has_support_tickets`, `$has_engagement_events` and
-- `$has_contacts` are bound by the pipeline: false when the shop has no such source.
-- Then every feature of that source is NULL ("unknown"), not 0 ("none"). When the
-- source exists, a customer without rows in it gets 0 counts and NULL for values that
-- need at least one row (a CSAT, a "days since").
--
-- DETERMINISM. The same facts give the same bytes whatever the row order or file split:
-- money sums are rounded to cents, ratios of rounded sums to 4 decimals, and the spread
-- of order gaps is computed from whole-minute integers, whose sums are exact.
--
-- Parameters (built-in defaults, overridden by [features.params] of the pipeline file):
--   $lapsed_after_days, $lapsed_overdue_ratio, $lapsed_min_days,
--   $ambassador_min_promotions, $transactional_min_discount_share,
--   $transactional_min_offer_response, $offer_response_days,
--   $relational_min_content_per_order, $relational_min_service_contacts.
-- Every output column is documented in docs/features.md (a test keeps them in step).
-- `params` is one row; it comes first in every CROSS JOIN because DataFusion builds its
-- cross joins from the left input in memory (with a big table on the left, the 1M-customer
-- shop's summary took 20 s instead of 3.5 s, and a 2 GiB pool could run out).
WITH params AS (
  SELECT
    CAST($as_of AS DATE)                                                   AS as_of_date,
    date_part('epoch', arrow_cast(CAST($as_of AS DATE), 'Timestamp(Microsecond, Some("UTC"))')) AS as_of_s,
    CAST($has_customers AS BOOLEAN)                                        AS has_customers,
    CAST($has_support_tickets AS BOOLEAN)                                  AS has_tickets,
    CAST($has_engagement_events AS BOOLEAN)                                AS has_events,
    CAST($has_contacts AS BOOLEAN)                                         AS has_contacts
),

-- ---------------------------------------------------------------- orders
-- Every order placed before D, whatever its status.
o AS (
  SELECT
    o.customer_id,
    o.order_id,
    o.ordered_at,
    o.status,
    o.channel,
    o.category,
    o.gross_amount,
    o.discount_amount,
    o.gross_amount - o.discount_amount                                     AS net_amount,
    date_part('epoch', o.ordered_at)                                       AS t_s,
    (p.as_of_s - date_part('epoch', o.ordered_at)) / 86400.0               AS age_days
  FROM params p CROSS JOIN orders o
  WHERE date_part('epoch', o.ordered_at) < p.as_of_s
),
ord AS (
  SELECT
    customer_id,
    count(*)                                                               AS orders_placed,
    count(*) FILTER (WHERE status = 'completed')                           AS orders_lifetime,
    count(*) FILTER (WHERE status = 'completed' AND age_days <= 30)        AS orders_30d,
    count(*) FILTER (WHERE status = 'completed' AND age_days <= 90)        AS orders_90d,
    count(*) FILTER (WHERE status = 'completed' AND age_days > 90 AND age_days <= 180) AS orders_prev_90d,
    count(*) FILTER (WHERE status = 'completed' AND age_days <= 365)       AS orders_365d,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed'), 0), 2)                     AS revenue_lifetime,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days <= 30), 0), 2)  AS revenue_30d,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days <= 90), 0), 2)  AS revenue_90d,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days > 90 AND age_days <= 180), 0), 2) AS revenue_prev_90d,
    round(COALESCE(sum(net_amount) FILTER (WHERE status = 'completed' AND age_days <= 365), 0), 2) AS revenue_365d,
    min(age_days) FILTER (WHERE status = 'completed')                      AS recency_days,
    max(age_days) FILTER (WHERE status = 'completed')                      AS first_order_days,
    count(*) FILTER (WHERE discount_amount > 0)                            AS orders_discounted,
    round(sum(discount_amount), 2)                                         AS discount_total,
    round(sum(gross_amount), 2)                                            AS gross_total,
    count(*) FILTER (WHERE status = 'returned')                            AS orders_returned,
    count(*) FILTER (WHERE status = 'refunded')                            AS orders_refunded,
    count(*) FILTER (WHERE status = 'cancelled')                           AS orders_cancelled,
    count(*) FILTER (WHERE channel = 'web')                                AS orders_web,
    count(*) FILTER (WHERE channel = 'app')                                AS orders_app,
    count(*) FILTER (WHERE channel = 'marketplace')                        AS orders_marketplace,
    count(*) FILTER (WHERE channel = 'store')                              AS orders_store
  FROM o
  GROUP BY customer_id
),
-- Breadth: distinct channels of placed orders and categories of completed ones. Counted
-- from DISTINCT pairs rather than with count(DISTINCT ...): two distinct aggregates in one
-- GROUP BY keep a hash set per customer and exhausted a 2 GiB pool at 20k customers.
breadth AS (
  SELECT customer_id,
         count(*) FILTER (WHERE kind = 'channel')                          AS channel_count,
         count(*) FILTER (WHERE kind = 'category')                         AS category_count
  FROM (
    SELECT DISTINCT customer_id, 'channel' AS kind, channel AS v FROM o WHERE channel IS NOT NULL
    UNION ALL
    SELECT DISTINCT customer_id, 'category' AS kind, category AS v FROM o
    WHERE status = 'completed' AND category IS NOT NULL
  )
  GROUP BY customer_id
),
-- Gaps between consecutive completed orders, in whole minutes: integer sums are exact,
-- so the spread does not depend on the order rows arrive in.
gaps AS (
  SELECT
    customer_id,
    CAST(floor(t_s / 60.0) AS BIGINT)
      - LAG(CAST(floor(t_s / 60.0) AS BIGINT))
          OVER (PARTITION BY customer_id ORDER BY t_s, order_id)           AS gap_min
  FROM o
  WHERE status = 'completed'
),
gap_stats AS (
  SELECT customer_id,
         count(gap_min)                                                    AS n_gaps,
         sum(gap_min)                                                      AS sum_gap,
         sum(gap_min * gap_min)                                            AS sumsq_gap
  FROM gaps
  GROUP BY customer_id
),
-- The first order placed (any status) and how it went.
first_order AS (
  SELECT customer_id, t_s, status, discount_amount
  FROM (
    SELECT customer_id, t_s, status, discount_amount,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY t_s, order_id) AS rn
    FROM o
  ) WHERE rn = 1
),

-- ---------------------------------------------------------------- support tickets
-- Tickets opened before D, as they stood at D.
t AS (
  SELECT
    t.customer_id,
    date_part('epoch', t.opened_at)                                        AS opened_s,
    CASE WHEN date_part('epoch', t.resolved_at) < p.as_of_s
         THEN date_part('epoch', t.resolved_at) END                        AS resolved_s,
    CASE WHEN date_part('epoch', t.resolved_at) < p.as_of_s THEN t.csat_score END     AS csat_score,
    CASE WHEN date_part('epoch', t.resolved_at) < p.as_of_s THEN t.reopened_count END AS reopened_count,
    (p.as_of_s - date_part('epoch', t.opened_at)) / 86400.0                AS age_days
  FROM params p CROSS JOIN support_tickets t
  WHERE date_part('epoch', t.opened_at) < p.as_of_s
),
tick AS (
  SELECT
    customer_id,
    count(*)                                                               AS tickets_lifetime,
    count(*) FILTER (WHERE age_days <= 90)                                 AS tickets_90d,
    count(*) FILTER (WHERE resolved_s IS NULL)                             AS open_tickets,
    COALESCE(sum(reopened_count), 0)                                       AS reopened_lifetime,
    COALESCE(sum(reopened_count) FILTER (WHERE age_days <= 90), 0)         AS reopened_90d,
    min(csat_score) FILTER (WHERE age_days <= 90)                          AS worst_csat_90d,
    -- Resolution time in whole minutes (exact integer sums), averaged in hours.
    CAST(sum(CAST(floor(resolved_s / 60.0) - floor(opened_s / 60.0) AS BIGINT)) AS DOUBLE)
      / 60.0 / NULLIF(count(resolved_s), 0)                                AS mean_resolution_hours,
    min(age_days)                                                          AS days_since_ticket
  FROM t
  GROUP BY customer_id
),
last_csat AS (
  SELECT customer_id, csat_score AS last_csat
  FROM (
    SELECT customer_id, csat_score,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY resolved_s DESC, opened_s DESC, csat_score) AS rn
    FROM t WHERE csat_score IS NOT NULL
  ) WHERE rn = 1
),
first_ticket AS (
  -- A ticket opened within 14 days after the first order marks a bad first experience.
  SELECT f.customer_id, count(t.opened_s) AS n
  FROM first_order f
  LEFT JOIN t ON t.customer_id = f.customer_id
             AND t.opened_s >= f.t_s
             AND t.opened_s < f.t_s + 14 * 86400
  GROUP BY f.customer_id
),

-- ---------------------------------------------------------------- engagement
e AS (
  SELECT
    e.customer_id,
    e.event_type,
    (p.as_of_s - date_part('epoch', e.occurred_at)) / 86400.0              AS age_days
  FROM params p CROSS JOIN engagement_events e
  WHERE date_part('epoch', e.occurred_at) < p.as_of_s
),
eng AS (
  SELECT
    customer_id,
    count(*) FILTER (WHERE event_type = 'email_send' AND age_days <= 90)   AS email_sends_90d,
    count(*) FILTER (WHERE event_type = 'email_open' AND age_days <= 90)   AS email_opens_90d,
    count(*) FILTER (WHERE event_type = 'email_click' AND age_days <= 90)  AS email_clicks_90d,
    count(*) FILTER (WHERE event_type = 'web_session' AND age_days <= 90)  AS web_sessions_90d,
    count(*) FILTER (WHERE event_type = 'app_session' AND age_days <= 90)  AS app_sessions_90d,
    count(*) FILTER (WHERE event_type IN ('web_session', 'app_session') AND age_days > 90 AND age_days <= 180) AS sessions_prev_90d,
    count(*) FILTER (WHERE event_type NOT IN ('email_send', 'unsubscribe') AND age_days <= 90) AS engagement_90d,
    count(*) FILTER (WHERE event_type NOT IN ('email_send', 'unsubscribe') AND age_days > 90 AND age_days <= 180) AS engagement_prev_90d,
    count(*) FILTER (WHERE event_type = 'review')                          AS reviews_lifetime,
    count(*) FILTER (WHERE event_type = 'referral')                        AS referrals_lifetime,
    count(*) FILTER (WHERE event_type = 'loyalty_redeem' AND age_days <= 365) AS loyalty_redeems_365d,
    count(*) FILTER (WHERE event_type IN ('email_open', 'email_click', 'review', 'loyalty_redeem')) AS content_events_lifetime,
    max(CASE WHEN event_type = 'unsubscribe' THEN 1 ELSE 0 END)            AS unsubscribed,
    min(age_days) FILTER (WHERE event_type NOT IN ('email_send', 'unsubscribe')) AS days_since_engagement
  FROM e
  GROUP BY customer_id
),

-- ---------------------------------------------------------------- offers (contacts)
-- Offers whose response window closed before D, and whether a completed order followed
-- within the window. An offer is a contact whose action ends in `_offer`, or `win_back`.
offers AS (
  SELECT c.customer_id, date_part('epoch', c.contacted_at) AS sent_s
  FROM params p CROSS JOIN contacts c
  WHERE (ends_with(c.action, '_offer') OR c.action = 'win_back')
    AND date_part('epoch', c.contacted_at) + $offer_response_days * 86400 < p.as_of_s
),
offer_resp AS (
  SELECT customer_id,
         count(*)                                                          AS offers_received,
         count(*) FILTER (WHERE answered)                                  AS offers_answered
  FROM (
    SELECT f.customer_id, f.sent_s,
           bool_or(oc.t_s IS NOT NULL)                                     AS answered
    FROM offers f
    LEFT JOIN o oc ON oc.customer_id = f.customer_id
                  AND oc.status = 'completed'
                  AND oc.t_s >= f.sent_s
                  AND oc.t_s < f.sent_s + $offer_response_days * 86400
    GROUP BY f.customer_id, f.sent_s
  )
  GROUP BY customer_id
),

-- ---------------------------------------------------------------- customers
cust AS (
  SELECT
    c.customer_id,
    date_part('epoch', c.signup_at)                                        AS signup_s,
    c.loyalty_member,
    c.email_opt_in,
    c.sms_opt_in,
    -- Birth dates on or after D are not ages.
    CASE WHEN c.birth_date < p.as_of_date THEN c.birth_date END            AS birth_date,
    CAST(c.signup_at AS DATE)                                              AS signup_date
  FROM params p CROSS JOIN customers c
),
-- The next birthday and signup anniversary on or after D (29 February falls on the 28th
-- in common years).
anniv AS (
  SELECT
    customer_id,
    kind,
    date_part('epoch', arrow_cast(make_date(ny, m,
        CASE WHEN m = 2 AND d = 29
              AND NOT ((ny % 4 = 0 AND ny % 100 <> 0) OR ny % 400 = 0) THEN 28 ELSE d END),
      'Timestamp(Microsecond, Some("UTC"))'))                              AS next_s
  FROM (
    SELECT customer_id, kind, m, d,
           CASE WHEN m * 100 + d >= dm THEN y ELSE y + 1 END               AS ny
    FROM (
      SELECT x.customer_id, x.kind,
             CAST(date_part('month', x.day) AS INT)                        AS m,
             CAST(date_part('day', x.day) AS INT)                          AS d,
             CAST(date_part('year', p.as_of_date) AS INT)                  AS y,
             CAST(date_part('month', p.as_of_date) * 100 + date_part('day', p.as_of_date) AS INT) AS dm
      FROM params p CROSS JOIN (
        SELECT customer_id, 'birthday' AS kind, birth_date AS day FROM cust WHERE birth_date IS NOT NULL
        UNION ALL
        SELECT customer_id, 'signup' AS kind, signup_date AS day FROM cust WHERE signup_date IS NOT NULL
      ) x
    )
  )
),

-- ---------------------------------------------------------------- one row per customer
universe AS (
  SELECT c.customer_id FROM params p CROSS JOIN cust c WHERE c.signup_s < p.as_of_s
  UNION
  SELECT customer_id FROM o
),
joined AS (
  SELECT
    u.customer_id,
    p.as_of_date, p.as_of_s, p.has_customers, p.has_tickets, p.has_events, p.has_contacts,
    c.signup_s, c.loyalty_member AS loyalty_member_b, c.email_opt_in AS email_opt_in_b,
    c.sms_opt_in AS sms_opt_in_b, c.birth_date,
    ord.orders_placed, ord.orders_lifetime, ord.orders_30d, ord.orders_90d, ord.orders_prev_90d,
    ord.orders_365d, ord.revenue_lifetime, ord.revenue_30d, ord.revenue_90d,
    ord.revenue_prev_90d, ord.revenue_365d, ord.recency_days, ord.first_order_days,
    ord.orders_discounted, ord.discount_total, ord.gross_total, ord.orders_returned,
    ord.orders_refunded, ord.orders_cancelled, ord.orders_web, ord.orders_app,
    ord.orders_marketplace, ord.orders_store, br.channel_count, br.category_count,
    g.n_gaps, g.sum_gap, g.sumsq_gap,
    f.t_s AS first_s, f.status AS first_status, f.discount_amount AS first_discount,
    ft.n AS first_tickets,
    tick.tickets_lifetime, tick.tickets_90d, tick.open_tickets, tick.reopened_lifetime,
    tick.reopened_90d, tick.worst_csat_90d, tick.mean_resolution_hours, tick.days_since_ticket,
    lc.last_csat,
    eng.email_sends_90d, eng.email_opens_90d, eng.email_clicks_90d, eng.web_sessions_90d,
    eng.app_sessions_90d, eng.sessions_prev_90d, eng.engagement_90d, eng.engagement_prev_90d,
    eng.reviews_lifetime, eng.referrals_lifetime, eng.loyalty_redeems_365d,
    eng.content_events_lifetime, eng.unsubscribed, eng.days_since_engagement,
    r.offers_received, r.offers_answered,
    bd.next_s AS next_birthday_s, sa.next_s AS next_anniversary_s,
    -- Known since signup or the first order, whichever came first.
    (p.as_of_s - LEAST(COALESCE(c.signup_s, f.t_s), COALESCE(f.t_s, c.signup_s))) / 86400.0 AS tenure_days
  FROM params p
  CROSS JOIN universe u
  LEFT JOIN cust c          ON c.customer_id = u.customer_id
  LEFT JOIN ord             ON ord.customer_id = u.customer_id
  LEFT JOIN breadth br      ON br.customer_id = u.customer_id
  LEFT JOIN gap_stats g     ON g.customer_id = u.customer_id
  LEFT JOIN first_order f   ON f.customer_id = u.customer_id
  LEFT JOIN first_ticket ft ON ft.customer_id = u.customer_id
  LEFT JOIN tick            ON tick.customer_id = u.customer_id
  LEFT JOIN last_csat lc    ON lc.customer_id = u.customer_id
  LEFT JOIN eng             ON eng.customer_id = u.customer_id
  LEFT JOIN offer_resp r    ON r.customer_id = u.customer_id
  LEFT JOIN anniv bd        ON bd.customer_id = u.customer_id AND bd.kind = 'birthday'
  LEFT JOIN anniv sa        ON sa.customer_id = u.customer_id AND sa.kind = 'signup'
),
feat AS (
  SELECT
    customer_id,
    as_of_date                                                             AS as_of,
    -- Orders
    recency_days,
    first_order_days,
    COALESCE(orders_placed, 0)                                             AS orders_placed,
    COALESCE(orders_lifetime, 0)                                           AS orders_lifetime,
    COALESCE(orders_30d, 0)                                                AS orders_30d,
    COALESCE(orders_90d, 0)                                                AS orders_90d,
    COALESCE(orders_prev_90d, 0)                                           AS orders_prev_90d,
    COALESCE(orders_365d, 0)                                               AS orders_365d,
    CAST(COALESCE(orders_90d, 0) - COALESCE(orders_prev_90d, 0) AS DOUBLE)
      / (COALESCE(orders_90d, 0) + COALESCE(orders_prev_90d, 0) + 1)       AS orders_trend,
    COALESCE(revenue_lifetime, 0.0)                                        AS revenue_lifetime,
    COALESCE(revenue_30d, 0.0)                                             AS revenue_30d,
    COALESCE(revenue_90d, 0.0)                                             AS revenue_90d,
    COALESCE(revenue_prev_90d, 0.0)                                        AS revenue_prev_90d,
    COALESCE(revenue_365d, 0.0)                                            AS revenue_365d,
    round((COALESCE(revenue_90d, 0.0) - COALESCE(revenue_prev_90d, 0.0))
      / (abs(COALESCE(revenue_90d, 0.0)) + abs(COALESCE(revenue_prev_90d, 0.0)) + 1.0), 4) AS revenue_trend,
    round(revenue_lifetime / NULLIF(orders_lifetime, 0), 2)                AS avg_order_value,
    CASE WHEN orders_lifetime >= 2
         THEN (first_order_days - recency_days) / (orders_lifetime - 1) END AS mean_days_between_orders,
    CASE WHEN n_gaps >= 2
         THEN sqrt(GREATEST(CAST(sumsq_gap AS DOUBLE) / n_gaps
                            - (CAST(sum_gap AS DOUBLE) / n_gaps) * (CAST(sum_gap AS DOUBLE) / n_gaps), 0.0)) / 1440.0
    END                                                                    AS sd_days_between_orders,
    CASE WHEN orders_lifetime >= 2 AND first_order_days > recency_days
         THEN recency_days / ((first_order_days - recency_days) / (orders_lifetime - 1)) END AS overdue_ratio,
    CAST(orders_discounted AS DOUBLE) / NULLIF(orders_placed, 0)           AS discount_share,
    round(discount_total / NULLIF(gross_total, 0), 4)                      AS avg_discount_rate,
    CAST(orders_returned AS DOUBLE) / NULLIF(orders_placed, 0)             AS returned_share,
    CAST(orders_refunded AS DOUBLE) / NULLIF(orders_placed, 0)             AS refunded_share,
    CAST(orders_cancelled AS DOUBLE) / NULLIF(orders_placed, 0)            AS cancelled_share,
    CAST(orders_returned + orders_refunded + orders_cancelled AS DOUBLE)
      / NULLIF(orders_placed, 0)                                           AS failed_order_share,
    CAST(orders_web AS DOUBLE) / NULLIF(orders_placed, 0)                  AS web_order_share,
    CAST(orders_app AS DOUBLE) / NULLIF(orders_placed, 0)                  AS app_order_share,
    CAST(orders_marketplace AS DOUBLE) / NULLIF(orders_placed, 0)          AS marketplace_order_share,
    CAST(orders_store AS DOUBLE) / NULLIF(orders_placed, 0)                AS store_order_share,
    COALESCE(channel_count, 0)                                             AS channel_count,
    COALESCE(category_count, 0)                                            AS category_count,
    CASE WHEN first_status IS NULL THEN NULL
         WHEN first_status IN ('returned', 'refunded', 'cancelled') THEN 1 ELSE 0 END AS first_order_returned,
    CASE WHEN first_status IS NULL THEN NULL
         WHEN first_discount > 0 THEN 1 ELSE 0 END                         AS first_order_discounted,
    CASE WHEN first_status IS NULL OR NOT has_tickets THEN NULL
         WHEN first_tickets > 0 THEN 1 ELSE 0 END                          AS first_order_ticket,
    -- Support
    CASE WHEN has_tickets THEN COALESCE(tickets_lifetime, 0) END           AS tickets_lifetime,
    CASE WHEN has_tickets THEN COALESCE(tickets_90d, 0) END                AS tickets_90d,
    CASE WHEN has_tickets THEN COALESCE(open_tickets, 0) END               AS open_tickets,
    CASE WHEN has_tickets THEN COALESCE(reopened_lifetime, 0) END          AS reopened_lifetime,
    CASE WHEN has_tickets THEN COALESCE(reopened_90d, 0) END               AS reopened_90d,
    worst_csat_90d,
    CASE WHEN has_tickets THEN CAST(COALESCE(worst_csat_90d, 5) AS DOUBLE) END AS worst_csat_90d_or_5,
    last_csat,
    round(mean_resolution_hours, 4)                                        AS mean_resolution_hours,
    days_since_ticket,
    -- Engagement
    CASE WHEN has_events THEN COALESCE(email_sends_90d, 0) END             AS email_sends_90d,
    CASE WHEN has_events THEN COALESCE(email_opens_90d, 0) END             AS email_opens_90d,
    CASE WHEN has_events THEN COALESCE(email_clicks_90d, 0) END            AS email_clicks_90d,
    CAST(email_opens_90d AS DOUBLE) / NULLIF(email_sends_90d, 0)           AS email_open_rate_90d,
    CAST(email_clicks_90d AS DOUBLE) / NULLIF(email_sends_90d, 0)          AS email_click_rate_90d,
    CASE WHEN has_events THEN COALESCE(web_sessions_90d, 0) END            AS web_sessions_90d,
    CASE WHEN has_events THEN COALESCE(app_sessions_90d, 0) END            AS app_sessions_90d,
    CASE WHEN has_events THEN COALESCE(web_sessions_90d, 0) + COALESCE(app_sessions_90d, 0) END AS sessions_90d,
    CASE WHEN has_events THEN COALESCE(sessions_prev_90d, 0) END           AS sessions_prev_90d,
    CASE WHEN has_events THEN
      CAST(COALESCE(web_sessions_90d, 0) + COALESCE(app_sessions_90d, 0) - COALESCE(sessions_prev_90d, 0) AS DOUBLE)
      / (COALESCE(web_sessions_90d, 0) + COALESCE(app_sessions_90d, 0) + COALESCE(sessions_prev_90d, 0) + 1) END AS sessions_trend,
    CASE WHEN has_events THEN COALESCE(engagement_90d, 0) END              AS engagement_90d,
    CASE WHEN has_events THEN
      CAST(COALESCE(engagement_90d, 0) - COALESCE(engagement_prev_90d, 0) AS DOUBLE)
      / (COALESCE(engagement_90d, 0) + COALESCE(engagement_prev_90d, 0) + 1) END AS engagement_trend,
    CASE WHEN has_events THEN COALESCE(reviews_lifetime, 0) END            AS reviews_lifetime,
    CASE WHEN has_events THEN COALESCE(referrals_lifetime, 0) END          AS referrals_lifetime,
    CASE WHEN has_events THEN COALESCE(loyalty_redeems_365d, 0) END        AS loyalty_redeems_365d,
    CASE WHEN has_events THEN COALESCE(content_events_lifetime, 0) END     AS content_events_lifetime,
    CASE WHEN has_events THEN COALESCE(unsubscribed, 0) END                AS unsubscribed,
    -- Never engaged: counted from the start of tenure.
    CASE WHEN has_events THEN COALESCE(days_since_engagement, tenure_days) END AS days_since_engagement,
    -- Offers
    CASE WHEN has_contacts THEN COALESCE(offers_received, 0) END           AS offers_received,
    CAST(offers_answered AS DOUBLE) / NULLIF(offers_received, 0)           AS offer_response_rate,
    -- Customer
    tenure_days,
    CASE WHEN loyalty_member_b THEN 1 WHEN NOT loyalty_member_b THEN 0 END AS loyalty_member,
    CASE WHEN email_opt_in_b THEN 1 WHEN NOT email_opt_in_b THEN 0 END     AS email_opt_in,
    CASE WHEN sms_opt_in_b THEN 1 WHEN NOT sms_opt_in_b THEN 0 END         AS sms_opt_in,
    CAST(date_part('year', as_of_date) - date_part('year', birth_date)
      - CASE WHEN date_part('month', as_of_date) * 100 + date_part('day', as_of_date)
                < date_part('month', birth_date) * 100 + date_part('day', birth_date)
             THEN 1 ELSE 0 END AS BIGINT)                                  AS age_years,
    (next_birthday_s - as_of_s) / 86400.0                                  AS days_to_birthday,
    (next_anniversary_s - as_of_s) / 86400.0                               AS days_to_signup_anniversary
  FROM joined
),
-- Shopper-type evidence: each signal that holds counts one point.
typed AS (
  SELECT
    feat.*,
    CASE
      WHEN age_years IS NULL THEN NULL
      WHEN age_years < 25 THEN '18-24'
      WHEN age_years < 35 THEN '25-34'
      WHEN age_years < 45 THEN '35-44'
      WHEN age_years < 55 THEN '45-54'
      WHEN age_years < 65 THEN '55-64'
      ELSE '65+'
    END                                                                    AS age_band,
    CASE WHEN COALESCE(discount_share, 0) >= $transactional_min_discount_share THEN 1 ELSE 0 END
    + CASE WHEN COALESCE(offer_response_rate, 0) >= $transactional_min_offer_response THEN 1 ELSE 0 END
                                                                           AS transactional_signals,
    CASE WHEN CAST(COALESCE(content_events_lifetime, 0) AS DOUBLE) / GREATEST(orders_lifetime, 1)
              >= $relational_min_content_per_order THEN 1 ELSE 0 END
    + CASE WHEN COALESCE(loyalty_member, 0) = 1 OR COALESCE(loyalty_redeems_365d, 0) > 0 THEN 1 ELSE 0 END
    + CASE WHEN COALESCE(tickets_lifetime, 0) >= $relational_min_service_contacts THEN 1 ELSE 0 END
                                                                           AS relational_signals
  FROM feat
)
SELECT
  typed.*,
  -- Lifecycle stage: the first rule that holds.
  CASE
    WHEN orders_lifetime = 0 THEN 'prospect'
    WHEN recency_days > $lapsed_after_days THEN 'lapsed'
    WHEN overdue_ratio >= $lapsed_overdue_ratio AND recency_days > $lapsed_min_days THEN 'lapsed'
    WHEN orders_lifetime >= 2
         AND COALESCE(reviews_lifetime, 0) + COALESCE(referrals_lifetime, 0) >= $ambassador_min_promotions THEN 'ambassador'
    WHEN orders_lifetime >= 2 THEN 'returning'
    ELSE 'first_time'
  END                                                                      AS lifecycle_stage,
  -- Shopper type: the side with more signals; no signals or a tie is `unknown`.
  CASE
    WHEN transactional_signals > relational_signals THEN 'transactional'
    WHEN relational_signals > transactional_signals THEN 'relational'
    ELSE 'unknown'
  END                                                                      AS shopper_type
FROM typed
ORDER BY customer_id
