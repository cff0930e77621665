//! `contacts.csv`: one row per campaign contact sent inside the window, and its injected
//! bad rows. Contacts have no key of their own.

use super::cells::{File, Ts, push_customer_id, push_ts_cell};
use super::chunk::ChunkOut;
use super::dirty::{Dirt, Kind, OUT_OF_RANGE_DATES, UNPARSEABLE_DATES, break_columns};
use crate::calendar::Calendar;
use crate::model::Customer;

pub(crate) const CONTACTS_HEADER: &str = "customer_id,action,contacted_at";

/// Kinds injected between rows (see [`Kind`]).
const CONTACT_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::UnknownCustomer,
    Kind::WrongColumnCount,
];

#[derive(Debug, Clone, Copy)]
struct ContactRow {
    customer: u64,
    action: &'static str,
    at: Ts,
}

fn write_contact(buf: &mut String, r: &ContactRow) {
    push_customer_id(buf, r.customer);
    buf.push(',');
    buf.push_str(r.action);
    buf.push(',');
    push_ts_cell(buf, r.at);
}

/// Append the contacts of customer number `no` (in dirty mode with injected bad rows).
pub(super) fn render(
    cal: &Calendar,
    c: &Customer,
    no: u64,
    out: &mut ChunkOut,
    mut dirt: Option<&mut Dirt>,
    line: &mut String,
) {
    let end_t = cal.days;
    for ct in c.contacts.iter().take_while(|ct| ct.t < end_t) {
        out.counters.contacts += 1;
        let row = ContactRow {
            customer: no,
            action: ct.action.as_str(),
            at: Ts::Secs(cal.secs(ct.t)),
        };
        line.clear();
        write_contact(line, &row);
        out.contacts.push_str(line);
        out.contacts.push('\n');
        let Some(d) = dirt.as_deref_mut() else {
            continue;
        };
        out.last_lines[2] = Some(line.clone());
        let Some(kind) = d.maybe(CONTACT_KINDS) else {
            continue;
        };
        let mut bad = row;
        match kind {
            Kind::UnparseableDate => bad.at = Ts::Raw(d.pick(&UNPARSEABLE_DATES)),
            Kind::OutOfRangeDate => bad.at = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES)),
            Kind::UnknownCustomer => bad.customer = d.unknown_customer(),
            _ => {}
        }
        line.clear();
        write_contact(line, &bad);
        if kind == Kind::WrongColumnCount {
            break_columns(line, &mut d.rng);
        }
        out.contacts.push_str(line);
        out.contacts.push('\n');
        out.dirty[File::Contacts as usize][kind as usize] += 1;
    }
}
