//! Dirty mode: the kinds of injected bad rows and their counts, the bad values, each
//! customer's dirty-row random stream ([`Dirt`]), and the line-level damage (a stray or
//! missing field, the final unterminated quote).

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cells::{File, Key, push_key};
use crate::SynthOptions;

/// Salt for the dirty-row random streams, so that they never touch the clean streams.
const DIRTY_SALT: u64 = 0xD1E7_5A17_0BAD_0001;

/// Dates that do not parse.
pub(super) const UNPARSEABLE_DATES: [&str; 4] = [
    "2025-13-45",
    "yesterday",
    "2025-02-30T12:00:00Z",
    "31/12/2025 10:00",
];
/// Dates that parse but are impossible for this shop (year 1 and year 9999).
pub(super) const OUT_OF_RANGE_DATES: [&str; 2] = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"];
pub(super) const OUT_OF_RANGE_SECS: [i64; 2] = [-62_135_596_800, 253_402_300_799];

/// Kinds of injected bad rows. Each file's module lists the kinds it injects between rows;
/// an unterminated quote is only ever the last line of a CSV file ([`unterminated_line`]):
/// anywhere else it would swallow the rows after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    UnparseableDate = 0,
    OutOfRangeDate,
    NegativeAmount,
    ExactDuplicate,
    DuplicateKey,
    UnknownCustomer,
    WrongColumnCount,
    UnterminatedQuote,
    CsatOutOfRange,
    ResolvedBeforeOpened,
    BrokenJson,
}

pub(crate) const N_KINDS: usize = 11;

impl Kind {
    pub(crate) const ALL: [Kind; N_KINDS] = [
        Kind::UnparseableDate,
        Kind::OutOfRangeDate,
        Kind::NegativeAmount,
        Kind::ExactDuplicate,
        Kind::DuplicateKey,
        Kind::UnknownCustomer,
        Kind::WrongColumnCount,
        Kind::UnterminatedQuote,
        Kind::CsatOutOfRange,
        Kind::ResolvedBeforeOpened,
        Kind::BrokenJson,
    ];
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::UnparseableDate => "unparseable_date",
            Kind::OutOfRangeDate => "out_of_range_date",
            Kind::NegativeAmount => "negative_amount",
            Kind::ExactDuplicate => "exact_duplicate",
            Kind::DuplicateKey => "duplicate_key",
            Kind::UnknownCustomer => "unknown_customer",
            Kind::WrongColumnCount => "wrong_column_count",
            Kind::UnterminatedQuote => "unterminated_quote",
            Kind::CsatOutOfRange => "csat_out_of_range",
            Kind::ResolvedBeforeOpened => "resolved_before_opened",
            Kind::BrokenJson => "broken_json",
        }
    }
}

/// Injected bad rows per file and kind.
pub(crate) type DirtyCounts = [[u64; N_KINDS]; 5];

/// Convenience for tests and `_synth.json`: `file.kind` keys with non-zero counts.
pub(crate) fn dirty_map(counts: &DirtyCounts) -> std::collections::BTreeMap<String, u64> {
    let mut map = std::collections::BTreeMap::new();
    for file in File::ALL {
        for kind in Kind::ALL {
            let n = counts[file as usize][kind as usize];
            if n > 0 {
                map.insert(format!("{}.{}", file.stem(), kind.as_str()), n);
            }
        }
    }
    map
}

/// The dirty-row random stream of one customer, and what it draws.
pub(super) struct Dirt {
    pub(super) rng: ChaCha8Rng,
    rate: f64,
    /// First customer number that does not exist.
    unknown_base: u64,
}

impl Dirt {
    /// The stream of customer `idx` (0-based), salted apart from the clean streams.
    pub(super) fn for_customer(opts: &SynthOptions, idx: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ DIRTY_SALT);
        rng.set_stream(idx);
        Dirt {
            rng,
            rate: opts.dirty_rate,
            unknown_base: opts.customers + 1,
        }
    }
    /// With probability `rate`, one of `kinds` (uniformly).
    pub(super) fn maybe(&mut self, kinds: &[Kind]) -> Option<Kind> {
        if self.rng.random::<f64>() < self.rate {
            Some(kinds[self.rng.random_range(0..kinds.len())])
        } else {
            None
        }
    }
    /// A customer number past the last real one.
    pub(super) fn unknown_customer(&mut self) -> u64 {
        self.unknown_base + self.rng.random_range(0..self.unknown_base.max(1000))
    }
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }
}

/// Add a stray field or drop the last one.
pub(super) fn break_columns(line: &mut String, rng: &mut ChaCha8Rng) {
    if rng.random_bool(0.5) {
        line.push_str(",n/a");
    } else if let Some(pos) = line.rfind(',') {
        line.truncate(pos);
    }
}

/// The last line of a CSV file in dirty mode: the last clean line with a fresh key (except
/// for contacts, which have none) and an opening quote before its second field that is
/// never closed.
pub(crate) fn unterminated_line(template: &str, file: File, injected_no: u64) -> String {
    let mut fields: Vec<String> = template.split(',').map(str::to_owned).collect();
    if file != File::Contacts {
        let mut key = String::new();
        push_key(&mut key, file, Key::Injected(injected_no));
        fields[0] = key;
    }
    if fields.len() > 1 {
        fields[1].insert(0, '"');
    }
    fields.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unterminated_line_opens_a_quote() {
        let l = unterminated_line(
            "O00000009,C0000002,2025-01-01T00:00:00Z,completed,1.00,0.00,EUR,web,books,1",
            File::Orders,
            3,
        );
        assert_eq!(
            l,
            "OX00000003,\"C0000002,2025-01-01T00:00:00Z,completed,1.00,0.00,EUR,web,books,1"
        );
    }
}
