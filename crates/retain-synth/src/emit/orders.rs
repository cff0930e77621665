//! `orders.csv`: one row per order placed inside the window, and its injected bad rows.

use rand::Rng;

use super::cells::{File, Key, Ts, push_customer_id, push_key, push_ts_cell};
use super::chunk::ChunkOut;
use super::dirty::{Dirt, Kind, OUT_OF_RANGE_DATES, UNPARSEABLE_DATES, break_columns};
use super::text::{push_padded, push_scaled};
use crate::calendar::Calendar;
use crate::model::{Customer, Status};

pub(crate) const ORDERS_HEADER: &str = "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count";

/// Kinds injected between rows (see [`Kind`]).
const ORDER_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::NegativeAmount,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
    Kind::WrongColumnCount,
];

#[derive(Debug, Clone, Copy)]
struct OrderRow {
    key: Key,
    customer: u64,
    at: Ts,
    status: &'static str,
    gross: i64,
    discount: i64,
    channel: &'static str,
    category: &'static str,
    items: u32,
}

fn write_order(buf: &mut String, r: &OrderRow) {
    push_key(buf, File::Orders, r.key);
    buf.push(',');
    push_customer_id(buf, r.customer);
    buf.push(',');
    push_ts_cell(buf, r.at);
    buf.push(',');
    buf.push_str(r.status);
    buf.push(',');
    push_scaled(buf, r.gross, 2);
    buf.push(',');
    push_scaled(buf, r.discount, 2);
    buf.push_str(",EUR,");
    buf.push_str(r.channel);
    buf.push(',');
    buf.push_str(r.category);
    buf.push(',');
    push_padded(buf, u64::from(r.items), 1);
}

/// Append the orders of customer number `no` (in dirty mode with injected bad rows).
pub(super) fn render(
    cal: &Calendar,
    c: &Customer,
    no: u64,
    out: &mut ChunkOut,
    mut dirt: Option<&mut Dirt>,
    line: &mut String,
) {
    let end_t = cal.days;
    for o in c.orders.iter().take_while(|o| o.t < end_t) {
        out.counters.orders += 1;
        let row = OrderRow {
            key: Key::Clean(out.counters.orders),
            customer: no,
            at: Ts::Secs(cal.secs(o.t)),
            status: o.status.as_str(),
            gross: o.gross_cents,
            discount: o.discount_cents,
            channel: o.channel,
            category: o.category,
            items: o.items,
        };
        line.clear();
        write_order(line, &row);
        out.orders.push_str(line);
        out.orders.push('\n');
        let Some(d) = dirt.as_deref_mut() else {
            continue;
        };
        out.last_lines[1] = Some(line.clone());
        let Some(kind) = d.maybe(ORDER_KINDS) else {
            continue;
        };
        let mut bad = row;
        let mut fresh = || {
            out.counters.injected_keys[File::Orders as usize] += 1;
            Key::Injected(out.counters.injected_keys[File::Orders as usize])
        };
        match kind {
            Kind::UnparseableDate => {
                bad.key = fresh();
                bad.at = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
            }
            Kind::OutOfRangeDate => {
                bad.key = fresh();
                bad.at = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
            }
            Kind::NegativeAmount => {
                bad.key = fresh();
                bad.gross = -row.gross.max(1);
                bad.discount = 0;
            }
            Kind::DuplicateKey => {
                let others: Vec<Status> = Status::ALL
                    .into_iter()
                    .filter(|s| s.as_str() != row.status)
                    .collect();
                bad.status = d.pick(&others).as_str();
                bad.gross = row.gross + 100 * d.rng.random_range(1..20);
            }
            Kind::UnknownCustomer => {
                bad.key = fresh();
                bad.customer = d.unknown_customer();
            }
            Kind::WrongColumnCount => bad.key = fresh(),
            _ => {}
        }
        line.clear();
        write_order(line, &bad);
        if kind == Kind::WrongColumnCount {
            break_columns(line, &mut d.rng);
        }
        out.orders.push_str(line);
        out.orders.push('\n');
        out.dirty[File::Orders as usize][kind as usize] += 1;
    }
}
