//! `support_tickets.ndjson`: one JSON object per ticket opened inside the window, and its
//! injected bad rows.

use rand::Rng;

use super::cells::{File, Key, Ts, push_customer_id, push_key, push_ts_cell};
use super::chunk::ChunkOut;
use super::dirty::{Dirt, Kind, OUT_OF_RANGE_DATES, UNPARSEABLE_DATES};
use super::text::push_padded;
use crate::calendar::Calendar;
use crate::model::Customer;

/// Kinds injected between rows (see [`Kind`]).
const TICKET_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::CsatOutOfRange,
    Kind::ResolvedBeforeOpened,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
    Kind::BrokenJson,
];

#[derive(Debug, Clone, Copy)]
struct TicketRow {
    key: Key,
    customer: u64,
    opened: Ts,
    resolved: Option<Ts>,
    channel: &'static str,
    topic: &'static str,
    priority: &'static str,
    csat: Option<u8>,
    reopened: u32,
}

fn write_ticket(buf: &mut String, r: &TicketRow) {
    buf.push_str("{\"ticket_id\":\"");
    push_key(buf, File::Tickets, r.key);
    buf.push_str("\",\"customer_id\":\"");
    push_customer_id(buf, r.customer);
    buf.push_str("\",\"opened_at\":\"");
    push_ts_cell(buf, r.opened);
    buf.push_str("\",\"resolved_at\":");
    match r.resolved {
        Some(ts) => {
            buf.push('"');
            push_ts_cell(buf, ts);
            buf.push('"');
        }
        None => buf.push_str("null"),
    }
    buf.push_str(",\"channel\":\"");
    buf.push_str(r.channel);
    buf.push_str("\",\"topic\":\"");
    buf.push_str(r.topic);
    buf.push_str("\",\"priority\":\"");
    buf.push_str(r.priority);
    buf.push_str("\",\"csat_score\":");
    match r.csat {
        Some(c) => push_padded(buf, u64::from(c), 1),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"reopened_count\":");
    push_padded(buf, u64::from(r.reopened), 1);
    buf.push('}');
}

/// Append the tickets of customer number `no` (in dirty mode with injected bad rows).
pub(super) fn render(
    cal: &Calendar,
    c: &Customer,
    no: u64,
    out: &mut ChunkOut,
    mut dirt: Option<&mut Dirt>,
    line: &mut String,
) {
    let end_t = cal.days;
    for tk in c.tickets.iter().take_while(|t| t.opened < end_t) {
        out.counters.tickets += 1;
        let opened_secs = cal.secs(tk.opened);
        let row = TicketRow {
            key: Key::Clean(out.counters.tickets),
            customer: no,
            opened: Ts::Secs(opened_secs),
            resolved: tk.resolved.map(|r| Ts::Secs(cal.secs(r))),
            channel: tk.channel,
            topic: tk.topic,
            priority: tk.priority,
            csat: tk.csat,
            reopened: tk.reopened,
        };
        line.clear();
        write_ticket(line, &row);
        out.tickets.push_str(line);
        out.tickets.push('\n');
        let Some(d) = dirt.as_deref_mut() else {
            continue;
        };
        let Some(mut kind) = d.maybe(TICKET_KINDS) else {
            continue;
        };
        // a ticket opened in the first second of the window cannot be resolved before
        // it inside the window: duplicate it instead
        if kind == Kind::ResolvedBeforeOpened && opened_secs <= cal.start_secs {
            kind = Kind::ExactDuplicate;
        }
        let mut bad = row;
        let mut fresh = || {
            out.counters.injected_keys[File::Tickets as usize] += 1;
            Key::Injected(out.counters.injected_keys[File::Tickets as usize])
        };
        match kind {
            Kind::UnparseableDate => {
                bad.key = fresh();
                bad.opened = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
                bad.resolved = None;
            }
            Kind::OutOfRangeDate => {
                bad.key = fresh();
                bad.opened = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
                bad.resolved = None;
            }
            Kind::CsatOutOfRange => {
                bad.key = fresh();
                bad.csat = Some(d.pick(&[0, 7]));
            }
            Kind::ResolvedBeforeOpened => {
                bad.key = fresh();
                let back = d
                    .rng
                    .random_range(3600..3 * 86_400)
                    .min(opened_secs - cal.start_secs);
                bad.resolved = Some(Ts::Secs(opened_secs - back));
            }
            Kind::DuplicateKey => {
                bad.csat = Some(match row.csat {
                    Some(c) => c % 5 + 1,
                    None => 5,
                });
                bad.reopened = row.reopened + 1;
            }
            Kind::UnknownCustomer => {
                bad.key = fresh();
                bad.customer = d.unknown_customer();
            }
            Kind::BrokenJson => bad.key = fresh(),
            _ => {}
        }
        line.clear();
        write_ticket(line, &bad);
        if kind == Kind::BrokenJson {
            let cut = line.len() * 2 / 5 + d.rng.random_range(0..(line.len() / 3).max(1));
            line.truncate(cut);
        }
        out.tickets.push_str(line);
        out.tickets.push('\n');
        out.dirty[File::Tickets as usize][kind as usize] += 1;
    }
}
