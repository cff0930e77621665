-- Purchase days as of D: one row per customer and UTC day with at least one completed
-- order strictly before D 00:00 UTC, with the day's net amount (gross - discount,
-- rounded to cents). Orders by one customer on one day are one purchase, as in the
-- buy-till-you-die literature (Fader, Hardie & Lee; the CDNOW summaries).
--
-- Not a job of its own: the one definition of a purchase, included by
-- features/clv_summary.sql, clv/holdout.sql and clv/repeat_purchases_by_day.sql with the
-- line `-- @include features/purchase_days.sql` inside their WITH clause (retain-sql
-- replaces that line with this text). It is a common table expression, so it is written
-- without a leading WITH and followed by a comma; its parameter is `$as_of_s`.
purchase_days AS (
  SELECT
    o.customer_id,
    CAST(o.ordered_at AS DATE)                                             AS day,
    round(sum(o.gross_amount - o.discount_amount), 2)                      AS amount
  FROM orders o
  WHERE o.status = 'completed'
    AND date_part('epoch', o.ordered_at) < CAST($as_of_s AS DOUBLE)
  GROUP BY o.customer_id, CAST(o.ordered_at AS DATE)
),
