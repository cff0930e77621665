-- The buy-till-you-die summary as of D (`$as_of`; `$as_of_s` is D 00:00 UTC in epoch
-- seconds): one row per customer with a completed order before D, the input of the
-- BG/NBD and Gamma-Gamma models (crates/retain-clv).
--
-- Conventions (those of Fader, Hardie & Lee and of the CDNOW summaries):
-- - a purchase is a day with at least one completed order: orders by one customer on
--   one UTC day count as one transaction, and their net amounts add up (the one
--   definition, features/purchase_days.sql, is included below);
-- - x   = repeat purchases: purchase days after the first;
-- - t_x = time from the first purchase day to the last one;
-- - T   = time from the first purchase day to the last day before D (the observation
--         ends with the last day whose orders are seen);
-- - monetary_value = mean net amount of the repeat purchase days (the first purchase is
--         left out, as the Gamma-Gamma model expects); NULL when x = 0.
-- Times are in units of `$time_unit_days` days (7 gives weeks, as in the papers).
-- Point in time: only orders strictly before D 00:00 UTC, as for every feature.
-- `params` is one row; it comes first in every CROSS JOIN because DataFusion builds its
-- cross joins from the left input in memory (with a big table on the left, the 1M-customer
-- shop's summary took 20 s instead of 3.5 s, and a 2 GiB pool could run out).
WITH params AS (
  SELECT
    CAST($as_of AS DATE)                                                   AS as_of_date,
    CAST($as_of_s AS DOUBLE)                                               AS as_of_s,
    CAST($time_unit_days AS DOUBLE)                                        AS unit_days
),
-- One row per customer and purchase day before D, with the day's net amount.
-- @include features/purchase_days.sql
ranked AS (
  SELECT
    customer_id,
    day,
    amount,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day)              AS n,
    min(day) OVER (PARTITION BY customer_id)                               AS first_day
  FROM purchase_days
)
SELECT
  r.customer_id,
  p.as_of_date                                                             AS as_of,
  r.first_day                                                              AS first_purchase_day,
  CAST(count(*) - 1 AS BIGINT)                                             AS x,
  CAST(date_part('epoch', arrow_cast(max(r.day), 'Timestamp(Microsecond, Some("UTC"))'))
       - date_part('epoch', arrow_cast(r.first_day, 'Timestamp(Microsecond, Some("UTC"))')) AS DOUBLE)
    / 86400.0 / p.unit_days                                                AS t_x,
  (p.as_of_s - 86400.0
       - date_part('epoch', arrow_cast(r.first_day, 'Timestamp(Microsecond, Some("UTC"))')))
    / 86400.0 / p.unit_days                                                AS t,
  -- Cents summed as integers: exact, whatever order the rows arrive in.
  CAST(sum(CASE WHEN r.n > 1 THEN CAST(round(r.amount * 100) AS BIGINT) END) AS DOUBLE)
    / 100.0 / NULLIF(count(*) - 1, 0)                                      AS monetary_value
FROM params p CROSS JOIN ranked r
GROUP BY r.customer_id, r.first_day, p.as_of_date, p.as_of_s, p.unit_days
ORDER BY r.customer_id
