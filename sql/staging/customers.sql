-- Staging: raw customers export -> canonical `customers`.
--
-- Input  `raw_customers`: the export as read, with the reader's provenance columns
--        (see staging/orders.sql).
-- Params $timestamp_format, $valid_from, $valid_until (see staging/orders.sql).
-- Output: the canonical columns of DESIGN.md, then `_invalid`, `_read_detail`,
--         `_source_file`, `_source_row` (see staging/orders.sql).
-- Rules:  customer_id present, signup_at a timestamp within [$valid_from, $valid_until),
--         birth_date empty or a date, the three flags true/false.
-- Dedup:  (done by the pipeline, contract.rs) one row per customer_id; versions ranked
--        by (signup_at, then every other column): the first is staged, identical copies
--        are `exact_duplicate`, other versions are quarantined as `duplicate_key`.
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
      WHEN _read_error IS NOT NULL
        THEN named_struct('reason', _read_error, 'column', _read_column)
      WHEN customer_id IS NULL
        THEN named_struct('reason', 'missing_value', 'column', 'customer_id')
      WHEN signup_at IS NULL
        THEN named_struct('reason', 'invalid_timestamp', 'column', 'signup_at')
      WHEN signup_at < $valid_from
        THEN named_struct('reason', 'out_of_range_date', 'column', 'signup_at')
      WHEN signup_at >= $valid_until
        THEN named_struct('reason', 'future_date', 'column', 'signup_at')
      WHEN birth_date_raw IS NOT NULL AND birth_date IS NULL
        THEN named_struct('reason', 'invalid_date', 'column', 'birth_date')
      WHEN email_opt_in IS NULL
        THEN named_struct('reason', 'invalid_boolean', 'column', 'email_opt_in')
      WHEN sms_opt_in IS NULL
        THEN named_struct('reason', 'invalid_boolean', 'column', 'sms_opt_in')
      WHEN loyalty_member IS NULL
        THEN named_struct('reason', 'invalid_boolean', 'column', 'loyalty_member')
    END AS _invalid
  FROM typed
)
SELECT
  customer_id,
  signup_at,
  country,
  birth_date,
  email_opt_in,
  sms_opt_in,
  loyalty_member,
  _invalid,
  _read_detail,
  _source_file,
  _source_row
FROM checked
