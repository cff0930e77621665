-- Staging: raw customers export -> canonical `customers`.
--
-- Input  `raw_customers`: the export as read (CSV columns arrive as text).
-- Output: the canonical columns of DESIGN.md plus `_reject_reason` / `_reject_column`.
--         Rows with a reason go to quarantine/customers/, the rest to staged/customers/.
-- Dedup:  one row per customer_id; among duplicates the earliest signup_at wins, ties by
--         the full row text, so the choice does not depend on file order. The losers
--         get reason `duplicate_key` and are counted as duplicates removed.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    trim(CAST(signup_at AS VARCHAR))                                       AS signup_at_raw,
    arrow_cast(TRY_CAST(trim(CAST(signup_at AS VARCHAR)) AS TIMESTAMP),
               'Timestamp(Microsecond, Some("UTC"))')                      AS signup_at,
    NULLIF(upper(trim(CAST(country AS VARCHAR))), '')                      AS country,
    NULLIF(trim(CAST(birth_date AS VARCHAR)), '')                          AS birth_date_raw,
    TRY_CAST(NULLIF(trim(CAST(birth_date AS VARCHAR)), '') AS DATE)        AS birth_date,
    TRY_CAST(lower(trim(CAST(email_opt_in AS VARCHAR))) AS BOOLEAN)        AS email_opt_in,
    TRY_CAST(lower(trim(CAST(sms_opt_in AS VARCHAR))) AS BOOLEAN)          AS sms_opt_in,
    TRY_CAST(lower(trim(CAST(loyalty_member AS VARCHAR))) AS BOOLEAN)      AS loyalty_member
  FROM raw_customers
),
checked AS (
  SELECT
    *,
    CASE
      WHEN customer_id IS NULL THEN 'missing_value'
      WHEN signup_at IS NULL THEN 'invalid_timestamp'
      WHEN birth_date_raw IS NOT NULL AND birth_date IS NULL THEN 'invalid_date'
      WHEN email_opt_in IS NULL OR sms_opt_in IS NULL OR loyalty_member IS NULL THEN 'invalid_boolean'
    END AS _invalid_reason,
    CASE
      WHEN customer_id IS NULL THEN 'customer_id'
      WHEN signup_at IS NULL THEN 'signup_at'
      WHEN birth_date_raw IS NOT NULL AND birth_date IS NULL THEN 'birth_date'
      WHEN email_opt_in IS NULL THEN 'email_opt_in'
      WHEN sms_opt_in IS NULL THEN 'sms_opt_in'
      WHEN loyalty_member IS NULL THEN 'loyalty_member'
    END AS _invalid_column
  FROM typed
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY customer_id, _invalid_reason IS NULL
      ORDER BY signup_at, country, birth_date, email_opt_in, sms_opt_in, loyalty_member
    ) AS _rank
  FROM checked
)
SELECT
  customer_id,
  signup_at,
  country,
  birth_date,
  email_opt_in,
  sms_opt_in,
  loyalty_member,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_reason
       WHEN _rank > 1 THEN 'duplicate_key' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _rank > 1 THEN 'customer_id' END AS _reject_column
FROM ranked
-- Sorted by key: reruns write the same rows in the same order.
ORDER BY customer_id, signup_at
