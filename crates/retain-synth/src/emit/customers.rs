//! `customers.csv`: one row per sign-up, and its injected bad rows.

use super::cells::{File, Key, Ts, push_key, push_ts_cell};
use super::chunk::ChunkOut;
use super::dirty::{Dirt, Kind, OUT_OF_RANGE_DATES, UNPARSEABLE_DATES, break_columns};
use super::text::{push_bool, push_date};
use crate::calendar::Calendar;
use crate::model::Customer;

pub(crate) const CUSTOMERS_HEADER: &str =
    "customer_id,signup_at,country,birth_date,email_opt_in,sms_opt_in,loyalty_member";

/// Kinds injected between rows (see [`Kind`]).
const CUSTOMER_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::WrongColumnCount,
];

#[derive(Debug, Clone, Copy)]
struct CustomerRow {
    key: Key,
    signup: Ts,
    country: &'static str,
    birth_days: Option<i64>,
    email: bool,
    sms: bool,
    loyalty: bool,
}

fn write_customer(buf: &mut String, r: &CustomerRow) {
    push_key(buf, File::Customers, r.key);
    buf.push(',');
    push_ts_cell(buf, r.signup);
    buf.push(',');
    buf.push_str(r.country);
    buf.push(',');
    if let Some(d) = r.birth_days {
        push_date(buf, d);
    }
    buf.push(',');
    push_bool(buf, r.email);
    buf.push(',');
    push_bool(buf, r.sms);
    buf.push(',');
    push_bool(buf, r.loyalty);
}

/// Append customer number `no`'s row (in dirty mode maybe followed by one bad row).
pub(super) fn render(
    cal: &Calendar,
    c: &Customer,
    no: u64,
    out: &mut ChunkOut,
    dirt: Option<&mut Dirt>,
    line: &mut String,
) {
    let start_days = cal.start_secs.div_euclid(86_400);
    let row = CustomerRow {
        key: Key::Clean(no),
        signup: Ts::Secs(cal.secs(c.signup)),
        country: c.country,
        birth_days: c.birth_offset_days.map(|d| start_days + d),
        email: c.email_opt_in,
        sms: c.sms_opt_in,
        loyalty: c.loyalty_member,
    };
    line.clear();
    write_customer(line, &row);
    out.customers.push_str(line);
    out.customers.push('\n');
    if let Some(d) = dirt {
        out.last_lines[0] = Some(line.clone());
        if let Some(kind) = d.maybe(CUSTOMER_KINDS) {
            let mut bad = row;
            let mut fresh = || {
                out.counters.injected_keys[File::Customers as usize] += 1;
                Key::Injected(out.counters.injected_keys[File::Customers as usize])
            };
            match kind {
                Kind::UnparseableDate => {
                    bad.key = fresh();
                    bad.signup = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
                }
                Kind::OutOfRangeDate => {
                    bad.key = fresh();
                    bad.signup = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
                }
                Kind::DuplicateKey => {
                    bad.country = if row.country == "DE" { "FR" } else { "DE" };
                    bad.loyalty = !row.loyalty;
                }
                Kind::WrongColumnCount => bad.key = fresh(),
                _ => {}
            }
            line.clear();
            write_customer(line, &bad);
            if kind == Kind::WrongColumnCount {
                break_columns(line, &mut d.rng);
            }
            out.customers.push_str(line);
            out.customers.push('\n');
            out.dirty[File::Customers as usize][kind as usize] += 1;
        }
    }
}
