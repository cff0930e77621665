-- Staging: raw customers export -> canonical `customers`.
--
-- Input  `raw_customers`: the export as read, with the reader's provenance columns
--        (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Output: the canonical columns of DESIGN.md, then `_reject_reason`, `_reject_column`,
--         `_reject_detail`, `_source_file`, `_source_row`.
-- Rules:  customer_id present, signup_at a timestamp within [$valid_from, $valid_until),
--         birth_date empty or a date, the three flags true/false.
-- Dedup:  one row per customer_id; versions ranked by (signup_at, then every other
--         column): the first is staged, identical copies are `exact_duplicate`, other
--         versions are quarantined as `duplicate_key`.
WITH typed AS (
  SELECT
    NULLIF(trim(CAST(customer_id AS VARCHAR)), '')                         AS customer_id,
    parse_timestamp(signup_at, $timestamp_format)                          AS signup_at,
    NULLIF(upper(trim(CAST(country AS VARCHAR))), '')                      AS country,
    NULLIF(trim(CAST(birth_date AS VARCHAR)), '')                          AS birth_date_raw,
    TRY_CAST(NULLIF(trim(CAST(birth_date AS VARCHAR)), '') AS DATE)        AS birth_date,
    TRY_CAST(lower(trim(CAST(email_opt_in AS VARCHAR))) AS BOOLEAN)        AS email_opt_in,
    TRY_CAST(lower(trim(CAST(sms_opt_in AS VARCHAR))) AS BOOLEAN)          AS sms_opt_in,
    TRY_CAST(lower(trim(CAST(loyalty_member AS VARCHAR))) AS BOOLEAN)      AS loyalty_member,
    _source_file, _source_row, _read_error, _read_column, _read_detail
  FROM raw_customers
),
checked AS (
  SELECT
    *,
    CASE
      WHEN _read_error IS NOT NULL THEN _read_error
      WHEN customer_id IS NULL THEN 'missing_value'
      WHEN signup_at IS NULL THEN 'invalid_timestamp'
      WHEN signup_at < $valid_from THEN 'out_of_range_date'
      WHEN signup_at >= $valid_until THEN 'future_date'
      WHEN birth_date_raw IS NOT NULL AND birth_date IS NULL THEN 'invalid_date'
      WHEN email_opt_in IS NULL OR sms_opt_in IS NULL OR loyalty_member IS NULL THEN 'invalid_boolean'
    END AS _invalid_reason,
    CASE
      WHEN _read_error IS NOT NULL THEN _read_column
      WHEN customer_id IS NULL THEN 'customer_id'
      WHEN signup_at IS NULL OR signup_at < $valid_from OR signup_at >= $valid_until THEN 'signup_at'
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
    DENSE_RANK() OVER w AS _version,
    ROW_NUMBER() OVER w AS _copy
  FROM checked
  WINDOW w AS (
    PARTITION BY customer_id, _invalid_reason IS NULL
    ORDER BY signup_at, country, birth_date, email_opt_in, sms_opt_in, loyalty_member
  )
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
       WHEN _version > 1 THEN 'duplicate_key'
       WHEN _copy > 1 THEN 'exact_duplicate' END AS _reject_reason,
  CASE WHEN _invalid_reason IS NOT NULL THEN _invalid_column
       WHEN _copy > 1 THEN 'customer_id' END AS _reject_column,
  CASE WHEN _invalid_reason IS NOT NULL THEN _read_detail
       WHEN _version > 1 THEN 'another row with this customer_id has different values and was staged' END AS _reject_detail,
  _source_file,
  _source_row
FROM ranked
ORDER BY customer_id, signup_at, _source_file, _source_row
