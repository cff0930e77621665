//! Input checks: every way the input can be unusable is an `Error`, so drawing never sees
//! an empty range or a NaN coordinate. The helpers here build those errors; each chart
//! kind's module has its own check.

use crate::{Error, Result};

pub(super) fn finite(chart: &str, what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            chart: chart.to_owned(),
            what: what(),
            value,
        })
    }
}

pub(super) fn empty(chart: &str, what: impl Into<String>) -> Error {
    Error::Empty {
        chart: chart.to_owned(),
        what: what.into(),
    }
}

pub(super) fn same_len(
    chart: &str,
    what: impl FnOnce() -> String,
    expected: usize,
    found: usize,
) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            chart: chart.to_owned(),
            what: what(),
            expected,
            found,
        })
    }
}
