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
-- Then every feature of that source is NULL ("unknown"), not 0 ("none"): the final
-- select joins that source's view on the flag. When the source exists, a customer
-- without rows in it gets 0 counts and NULL for values that need at least one row (a
-- CSAT, a "days since").
--
-- LAYOUT. One row per customer known at D (`universe`), then one view per source
-- (`orders_v`, `support_v`, `engagement_v`, `offers_v`, `customer_v`), each with one row
-- per customer of the universe and its feature columns in output order, each column
-- written once; counts come from aggregating the universe left-joined with the
-- source's rows, so a customer without rows gets 0 there. The final select joins the
-- views and adds the segments (age band, lifecycle stage, shopper type).
--
-- DETERMINISM. The same facts give the same bytes whatever the row order or file split:
-- money sums are rounded to cents, ratios of rounded sums to 4 decimals, and the spread
-- of order gaps is computed from whole-minute integers, whose sums are exact.
--
-- Parameters: `$as_of` (D) and `$as_of_s` (D 00:00 UTC in epoch seconds), the
-- `$has_<source>` flags, and (built-in defaults, overridden by [features.params] of the
-- pipeline file):
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
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($has_customers AS BOOLEAN)                                        AS has_customers,
    CAST($has_support_tickets AS BOOLEAN)                                  AS has_tickets,
    CAST($has_engagement_events AS BOOLEAN)                                AS has_events,
    CAST($has_contacts AS BOOLEAN)                                         AS has_contacts
),

-- ---------------------------------------------------------------- facts before D
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
e AS (
  SELECT
    e.customer_id,
    e.event_type,
    (p.as_of_s - date_part('epoch', e.occurred_at)) / 86400.0              AS age_days
  FROM params p CROSS JOIN engagement_events e
  WHERE date_part('epoch', e.occurred_at) < p.as_of_s
),
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
-- The customers known at D: signed up or ordered before D.
universe AS (
  SELECT c.customer_id FROM params p CROSS JOIN cust c WHERE c.signup_s < p.as_of_s
  UNION
  SELECT customer_id FROM o
),

-- ---------------------------------------------------------------- orders
-- Counts and sums over the universe left-joined with its orders (`count(o.customer_id)`
-- counts only real orders: 0 for a customer without any).
orders_agg AS (
  SELECT
    u.customer_id,
    count(o.customer_id)                                                   AS orders_placed,
    count(o.customer_id) FILTER (WHERE o.status = 'completed')             AS orders_lifetime,
    count(o.customer_id) FILTER (WHERE o.status = 'completed' AND o.age_days <= 30) AS orders_30d,
    count(o.customer_id) FILTER (WHERE o.status = 'completed' AND o.age_days <= 90) AS orders_90d,
    count(o.customer_id) FILTER (WHERE o.status = 'completed' AND o.age_days > 90 AND o.age_days <= 180) AS orders_prev_90d,
    count(o.customer_id) FILTER (WHERE o.status = 'completed' AND o.age_days <= 365) AS orders_365d,
    round(COALESCE(sum(o.net_amount) FILTER (WHERE o.status = 'completed'), 0), 2)                       AS revenue_lifetime,
    round(COALESCE(sum(o.net_amount) FILTER (WHERE o.status = 'completed' AND o.age_days <= 30), 0), 2)  AS revenue_30d,
    round(COALESCE(sum(o.net_amount) FILTER (WHERE o.status = 'completed' AND o.age_days <= 90), 0), 2)  AS revenue_90d,
    round(COALESCE(sum(o.net_amount) FILTER (WHERE o.status = 'completed' AND o.age_days > 90 AND o.age_days <= 180), 0), 2) AS revenue_prev_90d,
    round(COALESCE(sum(o.net_amount) FILTER (WHERE o.status = 'completed' AND o.age_days <= 365), 0), 2) AS revenue_365d,
    min(o.age_days) FILTER (WHERE o.status = 'completed')                  AS recency_days,
    max(o.age_days) FILTER (WHERE o.status = 'completed')                  AS first_order_days,
    count(o.customer_id) FILTER (WHERE o.discount_amount > 0)              AS orders_discounted,
    round(sum(o.discount_amount), 2)                                       AS discount_total,
    round(sum(o.gross_amount), 2)                                          AS gross_total,
    count(o.customer_id) FILTER (WHERE o.status = 'returned')              AS orders_returned,
    count(o.customer_id) FILTER (WHERE o.status = 'refunded')              AS orders_refunded,
    count(o.customer_id) FILTER (WHERE o.status = 'cancelled')             AS orders_cancelled,
    count(o.customer_id) FILTER (WHERE o.channel = 'web')                  AS orders_web,
    count(o.customer_id) FILTER (WHERE o.channel = 'app')                  AS orders_app,
    count(o.customer_id) FILTER (WHERE o.channel = 'marketplace')          AS orders_marketplace,
    count(o.customer_id) FILTER (WHERE o.channel = 'store')                AS orders_store
  FROM universe u
  LEFT JOIN o ON o.customer_id = u.customer_id
  GROUP BY u.customer_id
),
-- Breadth: distinct channels of placed orders and categories of completed ones. Counted
-- from DISTINCT pairs rather than with count(DISTINCT ...): two distinct aggregates in one
-- GROUP BY keep a hash set per customer and exhausted a 2 GiB pool at 20k customers.
breadth AS (
  SELECT u.customer_id,
         count(x.kind) FILTER (WHERE x.kind = 'channel')                   AS channel_count,
         count(x.kind) FILTER (WHERE x.kind = 'category')                  AS category_count
  FROM universe u
  LEFT JOIN (
    SELECT DISTINCT customer_id, 'channel' AS kind, channel AS v FROM o WHERE channel IS NOT NULL
    UNION ALL
    SELECT DISTINCT customer_id, 'category' AS kind, category AS v FROM o
    WHERE status = 'completed' AND category IS NOT NULL
  ) x ON x.customer_id = u.customer_id
  GROUP BY u.customer_id
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
first_ticket AS (
  -- A ticket opened within 14 days after the first order marks a bad first experience.
  SELECT f.customer_id, count(t.opened_s) AS n
  FROM first_order f
  LEFT JOIN t ON t.customer_id = f.customer_id
             AND t.opened_s >= f.t_s
             AND t.opened_s < f.t_s + 14 * 86400
  GROUP BY f.customer_id
),
orders_v AS (
  SELECT
    a.customer_id,
    a.recency_days,
    a.first_order_days,
    a.orders_placed,
    a.orders_lifetime,
    a.orders_30d,
    a.orders_90d,
    a.orders_prev_90d,
    a.orders_365d,
    CAST(a.orders_90d - a.orders_prev_90d AS DOUBLE)
      / (a.orders_90d + a.orders_prev_90d + 1)                             AS orders_trend,
    a.revenue_lifetime,
    a.revenue_30d,
    a.revenue_90d,
    a.revenue_prev_90d,
    a.revenue_365d,
    round((a.revenue_90d - a.revenue_prev_90d)
      / (abs(a.revenue_90d) + abs(a.revenue_prev_90d) + 1.0), 4)           AS revenue_trend,
    round(a.revenue_lifetime / NULLIF(a.orders_lifetime, 0), 2)            AS avg_order_value,
    CASE WHEN a.orders_lifetime >= 2
         THEN (a.first_order_days - a.recency_days) / (a.orders_lifetime - 1) END AS mean_days_between_orders,
    CASE WHEN g.n_gaps >= 2
         THEN sqrt(GREATEST(CAST(g.sumsq_gap AS DOUBLE) / g.n_gaps
                            - (CAST(g.sum_gap AS DOUBLE) / g.n_gaps) * (CAST(g.sum_gap AS DOUBLE) / g.n_gaps), 0.0)) / 1440.0
    END                                                                    AS sd_days_between_orders,
    CASE WHEN a.orders_lifetime >= 2 AND a.first_order_days > a.recency_days
         THEN a.recency_days / ((a.first_order_days - a.recency_days) / (a.orders_lifetime - 1)) END AS overdue_ratio,
    CAST(a.orders_discounted AS DOUBLE) / NULLIF(a.orders_placed, 0)       AS discount_share,
    round(a.discount_total / NULLIF(a.gross_total, 0), 4)                  AS avg_discount_rate,
    CAST(a.orders_returned AS DOUBLE) / NULLIF(a.orders_placed, 0)         AS returned_share,
    CAST(a.orders_refunded AS DOUBLE) / NULLIF(a.orders_placed, 0)         AS refunded_share,
    CAST(a.orders_cancelled AS DOUBLE) / NULLIF(a.orders_placed, 0)        AS cancelled_share,
    CAST(a.orders_returned + a.orders_refunded + a.orders_cancelled AS DOUBLE)
      / NULLIF(a.orders_placed, 0)                                         AS failed_order_share,
    CAST(a.orders_web AS DOUBLE) / NULLIF(a.orders_placed, 0)              AS web_order_share,
    CAST(a.orders_app AS DOUBLE) / NULLIF(a.orders_placed, 0)              AS app_order_share,
    CAST(a.orders_marketplace AS DOUBLE) / NULLIF(a.orders_placed, 0)      AS marketplace_order_share,
    CAST(a.orders_store AS DOUBLE) / NULLIF(a.orders_placed, 0)            AS store_order_share,
    br.channel_count,
    br.category_count,
    CASE WHEN f.status IS NULL THEN NULL
         WHEN f.status IN ('returned', 'refunded', 'cancelled') THEN 1 ELSE 0 END AS first_order_returned,
    CASE WHEN f.status IS NULL THEN NULL
         WHEN f.discount_amount > 0 THEN 1 ELSE 0 END                      AS first_order_discounted,
    CASE WHEN f.status IS NULL OR NOT p.has_tickets THEN NULL
         WHEN ft.n > 0 THEN 1 ELSE 0 END                                   AS first_order_ticket
  FROM params p
  CROSS JOIN orders_agg a
  JOIN breadth br           ON br.customer_id = a.customer_id
  LEFT JOIN gap_stats g     ON g.customer_id = a.customer_id
  LEFT JOIN first_order f   ON f.customer_id = a.customer_id
  LEFT JOIN first_ticket ft ON ft.customer_id = a.customer_id
),

-- ---------------------------------------------------------------- customers
-- Before engagement, whose days since engagement starts from tenure when there is none.
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
customer_v AS (
  SELECT
    u.customer_id,
    -- Known since signup or the first order, whichever came first.
    (p.as_of_s - LEAST(COALESCE(c.signup_s, f.t_s), COALESCE(f.t_s, c.signup_s))) / 86400.0 AS tenure_days,
    CASE WHEN c.loyalty_member THEN 1 WHEN NOT c.loyalty_member THEN 0 END AS loyalty_member,
    CASE WHEN c.email_opt_in THEN 1 WHEN NOT c.email_opt_in THEN 0 END     AS email_opt_in,
    CASE WHEN c.sms_opt_in THEN 1 WHEN NOT c.sms_opt_in THEN 0 END         AS sms_opt_in,
    CAST(date_part('year', p.as_of_date) - date_part('year', c.birth_date)
      - CASE WHEN date_part('month', p.as_of_date) * 100 + date_part('day', p.as_of_date)
                < date_part('month', c.birth_date) * 100 + date_part('day', c.birth_date)
             THEN 1 ELSE 0 END AS BIGINT)                                  AS age_years,
    (bd.next_s - p.as_of_s) / 86400.0                                      AS days_to_birthday,
    (sa.next_s - p.as_of_s) / 86400.0                                      AS days_to_signup_anniversary
  FROM params p
  CROSS JOIN universe u
  LEFT JOIN cust c          ON c.customer_id = u.customer_id
  LEFT JOIN first_order f   ON f.customer_id = u.customer_id
  LEFT JOIN anniv bd        ON bd.customer_id = u.customer_id AND bd.kind = 'birthday'
  LEFT JOIN anniv sa        ON sa.customer_id = u.customer_id AND sa.kind = 'signup'
),

-- ---------------------------------------------------------------- support tickets
support_agg AS (
  SELECT
    u.customer_id,
    count(t.customer_id)                                                   AS tickets_lifetime,
    count(t.customer_id) FILTER (WHERE t.age_days <= 90)                   AS tickets_90d,
    count(t.customer_id) FILTER (WHERE t.resolved_s IS NULL)               AS open_tickets,
    COALESCE(sum(t.reopened_count), 0)                                     AS reopened_lifetime,
    COALESCE(sum(t.reopened_count) FILTER (WHERE t.age_days <= 90), 0)     AS reopened_90d,
    min(t.csat_score) FILTER (WHERE t.age_days <= 90)                      AS worst_csat_90d,
    -- Resolution time in whole minutes (exact integer sums), averaged in hours.
    CAST(sum(CAST(floor(t.resolved_s / 60.0) - floor(t.opened_s / 60.0) AS BIGINT)) AS DOUBLE)
      / 60.0 / NULLIF(count(t.resolved_s), 0)                              AS mean_resolution_hours,
    min(t.age_days)                                                        AS days_since_ticket
  FROM universe u
  LEFT JOIN t ON t.customer_id = u.customer_id
  GROUP BY u.customer_id
),
last_csat AS (
  SELECT customer_id, csat_score AS last_csat
  FROM (
    SELECT customer_id, csat_score,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY resolved_s DESC, opened_s DESC, csat_score) AS rn
    FROM t WHERE csat_score IS NOT NULL
  ) WHERE rn = 1
),
support_v AS (
  SELECT
    a.customer_id,
    a.tickets_lifetime,
    a.tickets_90d,
    a.open_tickets,
    a.reopened_lifetime,
    a.reopened_90d,
    a.worst_csat_90d,
    CAST(COALESCE(a.worst_csat_90d, 5) AS DOUBLE)                          AS worst_csat_90d_or_5,
    lc.last_csat,
    round(a.mean_resolution_hours, 4)                                      AS mean_resolution_hours,
    a.days_since_ticket
  FROM support_agg a
  LEFT JOIN last_csat lc ON lc.customer_id = a.customer_id
),

-- ---------------------------------------------------------------- engagement
engagement_agg AS (
  SELECT
    u.customer_id,
    count(e.customer_id) FILTER (WHERE e.event_type = 'email_send' AND e.age_days <= 90)  AS email_sends_90d,
    count(e.customer_id) FILTER (WHERE e.event_type = 'email_open' AND e.age_days <= 90)  AS email_opens_90d,
    count(e.customer_id) FILTER (WHERE e.event_type = 'email_click' AND e.age_days <= 90) AS email_clicks_90d,
    count(e.customer_id) FILTER (WHERE e.event_type = 'web_session' AND e.age_days <= 90) AS web_sessions_90d,
    count(e.customer_id) FILTER (WHERE e.event_type = 'app_session' AND e.age_days <= 90) AS app_sessions_90d,
    count(e.customer_id) FILTER (WHERE e.event_type IN ('web_session', 'app_session') AND e.age_days > 90 AND e.age_days <= 180) AS sessions_prev_90d,
    count(e.customer_id) FILTER (WHERE e.event_type NOT IN ('email_send', 'unsubscribe') AND e.age_days <= 90) AS engagement_90d,
    count(e.customer_id) FILTER (WHERE e.event_type NOT IN ('email_send', 'unsubscribe') AND e.age_days > 90 AND e.age_days <= 180) AS engagement_prev_90d,
    count(e.customer_id) FILTER (WHERE e.event_type = 'review')            AS reviews_lifetime,
    count(e.customer_id) FILTER (WHERE e.event_type = 'referral')          AS referrals_lifetime,
    count(e.customer_id) FILTER (WHERE e.event_type = 'loyalty_redeem' AND e.age_days <= 365) AS loyalty_redeems_365d,
    count(e.customer_id) FILTER (WHERE e.event_type IN ('email_open', 'email_click', 'review', 'loyalty_redeem')) AS content_events_lifetime,
    max(CASE WHEN e.event_type = 'unsubscribe' THEN 1 ELSE 0 END)          AS unsubscribed,
    min(e.age_days) FILTER (WHERE e.event_type NOT IN ('email_send', 'unsubscribe')) AS days_since_engagement
  FROM universe u
  LEFT JOIN e ON e.customer_id = u.customer_id
  GROUP BY u.customer_id
),
engagement_v AS (
  SELECT
    a.customer_id,
    a.email_sends_90d,
    a.email_opens_90d,
    a.email_clicks_90d,
    CAST(a.email_opens_90d AS DOUBLE) / NULLIF(a.email_sends_90d, 0)       AS email_open_rate_90d,
    CAST(a.email_clicks_90d AS DOUBLE) / NULLIF(a.email_sends_90d, 0)      AS email_click_rate_90d,
    a.web_sessions_90d,
    a.app_sessions_90d,
    a.web_sessions_90d + a.app_sessions_90d                                AS sessions_90d,
    a.sessions_prev_90d,
    CAST(a.web_sessions_90d + a.app_sessions_90d - a.sessions_prev_90d AS DOUBLE)
      / (a.web_sessions_90d + a.app_sessions_90d + a.sessions_prev_90d + 1) AS sessions_trend,
    a.engagement_90d,
    CAST(a.engagement_90d - a.engagement_prev_90d AS DOUBLE)
      / (a.engagement_90d + a.engagement_prev_90d + 1)                     AS engagement_trend,
    a.reviews_lifetime,
    a.referrals_lifetime,
    a.loyalty_redeems_365d,
    a.content_events_lifetime,
    a.unsubscribed,
    -- Never engaged: counted from the start of tenure.
    COALESCE(a.days_since_engagement, c.tenure_days)                       AS days_since_engagement
  FROM engagement_agg a
  JOIN customer_v c ON c.customer_id = a.customer_id
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
offer_answers AS (
  SELECT f.customer_id, f.sent_s,
         bool_or(oc.t_s IS NOT NULL)                                       AS answered
  FROM offers f
  LEFT JOIN o oc ON oc.customer_id = f.customer_id
                AND oc.status = 'completed'
                AND oc.t_s >= f.sent_s
                AND oc.t_s < f.sent_s + $offer_response_days * 86400
  GROUP BY f.customer_id, f.sent_s
),
offers_v AS (
  SELECT
    u.customer_id,
    count(r.customer_id)                                                   AS offers_received,
    CAST(count(r.customer_id) FILTER (WHERE r.answered) AS DOUBLE)
      / NULLIF(count(r.customer_id), 0)                                    AS offer_response_rate
  FROM universe u
  LEFT JOIN offer_answers r ON r.customer_id = u.customer_id
  GROUP BY u.customer_id
),

-- ---------------------------------------------------------------- one row per customer
-- The views side by side. A source the shop lacks joins on nothing: all its features
-- are NULL.
feat AS (
  SELECT
    u.customer_id,
    p.as_of_date                                                           AS as_of,
    ov.* EXCLUDE (customer_id),
    sv.* EXCLUDE (customer_id),
    ev.* EXCLUDE (customer_id),
    fv.* EXCLUDE (customer_id),
    cv.* EXCLUDE (customer_id)
  FROM params p
  CROSS JOIN universe u
  JOIN orders_v ov          ON ov.customer_id = u.customer_id
  LEFT JOIN support_v sv    ON sv.customer_id = u.customer_id AND p.has_tickets
  LEFT JOIN engagement_v ev ON ev.customer_id = u.customer_id AND p.has_events
  LEFT JOIN offers_v fv     ON fv.customer_id = u.customer_id AND p.has_contacts
  JOIN customer_v cv        ON cv.customer_id = u.customer_id
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
