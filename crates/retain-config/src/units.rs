//! Units written as strings in configuration files, with their serde: durations
//! (`500ms`, `30s`, `2m`, `1h`) and byte sizes (`512MiB`, `2GiB`, or a byte count).

use serde::Deserialize;

/// A duration written as `500ms`, `30s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration(pub std::time::Duration);

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like `500ms`, `30s` or `2m`"))?;
        let per: u64 = match unit.trim() {
            "ms" => 1,
            "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{s}` (ms, s, m, h)"
                ));
            }
        };
        // `18446744073709551615s` overflowed the milliseconds (a panic in debug builds,
        // a wrong duration in release).
        let ms = n
            .checked_mul(per)
            .ok_or_else(|| format!("`{s}` is too long a duration"))?;
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A byte count written as an integer or as `512MiB` / `2GiB` / `100MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size like `512MiB` or `2GiB`"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" => 1 << 10,
            "mb" => 1_000_000,
            "mib" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => return Err(format!("unknown size unit `{other}` in `{s}`")),
        };
        // `99999999999999999999GiB` saturated to u64::MAX silently.
        let bytes = n * mult as f64;
        if !(bytes.is_finite() && bytes < u64::MAX as f64) {
            return Err(format!("`{s}` is too large a size"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!("512MiB".parse::<ByteSize>(), Ok(ByteSize(512 << 20)));
        assert_eq!("2GiB".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!("1000".parse::<ByteSize>(), Ok(ByteSize(1000)));
        assert!("12 parsecs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn sizes_past_u64_are_errors() {
        assert_eq!(
            "16EB".parse::<ByteSize>(),
            Err("unknown size unit `eb` in `16EB`".to_owned())
        );
        assert_eq!(
            "99999999999999999999GiB".parse::<ByteSize>(),
            Err("`99999999999999999999GiB` is too large a size".to_owned())
        );
        assert_eq!(
            "8000000000GiB".parse::<ByteSize>(),
            Ok(ByteSize(8_000_000_000 << 30))
        );
    }

    #[test]
    fn durations_past_u64_milliseconds_are_errors() {
        assert_eq!(
            "5124095576030h".parse::<Duration>(),
            Ok(Duration(std::time::Duration::from_millis(
                5_124_095_576_030 * 3_600_000
            )))
        );
        assert_eq!(
            "5124095576031h".parse::<Duration>(),
            Err("`5124095576031h` is too long a duration".to_owned())
        );
        assert!("18446744073709551615s".parse::<Duration>().is_err());
    }
}
