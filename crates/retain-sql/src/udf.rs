//! Functions SQL cannot express, registered on every session.
//!
//! `parse_timestamp(value, local_format)`: a timestamp as `Timestamp(µs, "UTC")`, or null
//! when the text is not one. It accepts what shops export: RFC 3339 / ISO-8601 with `Z` or
//! an offset (converted to UTC), ISO-8601 without an offset and plain dates (read as
//! UTC), and, when `local_format` is a non-empty chrono format (`%d/%m/%Y %H:%M`),
//! timestamps in that format (read as UTC). Timestamp inputs (Parquet) are converted to
//! microseconds in UTC. Unlike `TRY_CAST(… AS TIMESTAMP)`, whose nanosecond range ends in
//! 2262, it keeps years 0001 and 9999, so staging can say such a date is out of range
//! instead of calling it unparseable.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// All of retain's SQL functions.
pub fn all() -> Vec<ScalarUDF> {
    vec![ScalarUDF::from(ParseTimestamp::new())]
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ParseTimestamp {
    signature: Signature,
}

impl ParseTimestamp {
    fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ParseTimestamp {
    fn name(&self) -> &str {
        "parse_timestamp"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(utc_micros())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, format] = args.args.as_slice() else {
            return exec_err!("parse_timestamp takes (value, local_format)");
        };
        let local = match format {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(f) | ScalarValue::LargeUtf8(f) | ScalarValue::Utf8View(f),
            ) => f.clone().filter(|f| !f.is_empty()),
            ColumnarValue::Scalar(s) if s.is_null() => None,
            _ => return exec_err!("parse_timestamp: the format must be a text constant"),
        };
        let array = value.to_array(args.number_rows)?;
        let out: ArrayRef = match array.data_type() {
            DataType::Timestamp(_, _) => cast(&array, &utc_micros())?,
            DataType::Null => {
                Arc::new(TimestampMicrosecondArray::new_null(array.len()).with_timezone("UTC"))
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = cast(&array, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                let parsed: TimestampMicrosecondArray = text
                    .iter()
                    .map(|v| v.and_then(|s| parse(s, local.as_deref())))
                    .collect();
                Arc::new(parsed.with_timezone("UTC"))
            }
            other => return exec_err!("parse_timestamp cannot read a {other} value"),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Microseconds since the epoch (UTC) of a timestamp text, if it is one.
pub fn parse(text: &str, local_format: Option<&str>) -> Option<i64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_micros());
        }
    }
    let s_no_z = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s_no_z, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros());
    }
    let f = local_format?;
    if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
        return Some(t.and_utc().timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_str(s, f) {
        return Some(t.timestamp_micros());
    }
    NaiveDate::parse_from_str(s, f)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn iso(micros: Option<i64>) -> Option<String> {
        micros
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.to_rfc3339())
    }

    #[test]
    fn exports_timestamps_become_utc() {
        let cases = [
            ("2025-03-01T12:00:00Z", Some("2025-03-01T12:00:00+00:00")),
            (
                "2025-03-01T12:00:00+02:00",
                Some("2025-03-01T10:00:00+00:00"),
            ),
            (
                "2025-03-01 12:00:00-0500",
                Some("2025-03-01T17:00:00+00:00"),
            ),
            (
                "2025-03-01T12:00:00.250",
                Some("2025-03-01T12:00:00.250+00:00"),
            ),
            ("2025-03-01 12:00", Some("2025-03-01T12:00:00+00:00")),
            ("2025-03-01", Some("2025-03-01T00:00:00+00:00")),
            (" 0001-01-01T00:00:00Z ", Some("0001-01-01T00:00:00+00:00")),
            ("9999-12-31T00:00:00Z", Some("9999-12-31T00:00:00+00:00")),
            ("2025-13-45T12:00:00Z", None),
            ("01/03/2025 12:00", None),
            ("", None),
            ("not a date", None),
        ];
        for (text, want) in cases {
            assert_eq!(iso(parse(text, None)).as_deref(), want, "{text}");
        }
        assert_eq!(
            iso(parse("01/03/2025 12:00", Some("%d/%m/%Y %H:%M"))).as_deref(),
            Some("2025-03-01T12:00:00+00:00")
        );
        assert_eq!(
            iso(parse("01/03/2025", Some("%d/%m/%Y"))).as_deref(),
            Some("2025-03-01T00:00:00+00:00")
        );
    }
}
