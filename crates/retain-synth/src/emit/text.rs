//! Text formatting of cells: zero-padded integers, fixed-point decimals, dates and RFC 3339
//! timestamps (proleptic Gregorian, like chrono), booleans. No `fmt::Result` to ignore:
//! they only push to a `String`.

pub(super) fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    for _ in len..width {
        buf.push('0');
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// Fixed-point decimal with `decimals` digits, from an already scaled integer.
pub(super) fn push_scaled(buf: &mut String, scaled: i64, decimals: u32) {
    if scaled < 0 {
        buf.push('-');
    }
    let abs = scaled.unsigned_abs();
    let unit = 10u64.pow(decimals);
    push_padded(buf, abs / unit, 1);
    if decimals > 0 {
        buf.push('.');
        push_padded(buf, abs % unit, decimals as usize);
    }
}

pub(super) fn push_fixed(buf: &mut String, x: f64, decimals: u32) {
    let scaled = (x * 10f64.powi(decimals as i32)).round() as i64;
    push_scaled(buf, scaled, decimals);
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub(super) fn push_date(buf: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y < 0 {
        buf.push('-');
    }
    push_padded(buf, y.unsigned_abs(), 4);
    buf.push('-');
    push_padded(buf, u64::from(m), 2);
    buf.push('-');
    push_padded(buf, u64::from(d), 2);
}

/// RFC 3339 UTC with seconds: `2025-01-03T14:22:05Z`.
pub(super) fn push_ts(buf: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    push_date(buf, days);
    buf.push('T');
    push_padded(buf, sod / 3600, 2);
    buf.push(':');
    push_padded(buf, sod / 60 % 60, 2);
    buf.push(':');
    push_padded(buf, sod % 60, 2);
    buf.push('Z');
}

pub(super) fn push_bool(buf: &mut String, b: bool) {
    buf.push_str(if b { "true" } else { "false" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_chrono() {
        for secs in [
            0i64,
            1_735_914_125,
            1_730_419_200,
            1_793_491_199,
            -62_135_596_800,
            253_402_300_799,
            951_782_400, // 2000-02-29
        ] {
            let mut s = String::new();
            push_ts(&mut s, secs);
            let expected = chrono::DateTime::from_timestamp(secs, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn numbers_format() {
        let mut s = String::new();
        push_scaled(&mut s, 1234, 2);
        s.push(' ');
        push_scaled(&mut s, -5, 2);
        s.push(' ');
        push_fixed(&mut s, 0.12345, 4);
        assert_eq!(s, "12.34 -0.05 0.1235");
    }
}
