//! Rendering a chunk of consecutive customers ([`render_chunk`]): each is simulated, then
//! written file by file, always in the same order (customers, orders, tickets, events,
//! contacts, truth), so every file's dirty-row draws come from the same place in the
//! customer's dirty stream.

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::cells::push_customer_id;
use super::chunk::{ChunkOut, Counters, Ctx};
use super::dirty::{Dirt, N_KINDS};
use super::events::EventCols;
use super::{contacts, customers, events, orders, tickets, truth};
use crate::model::{self, Customer};

/// Render customers `first..last` (0-based indexes), continuing from `counters`.
pub(crate) fn render_chunk(
    ctx: &Ctx,
    first: u64,
    last: u64,
    counters: Counters,
) -> Result<ChunkOut, arrow::error::ArrowError> {
    let opts = &ctx.opts;
    let cal = &ctx.cal;
    let n = (last - first) as usize;
    let mut out = ChunkOut {
        customers: String::with_capacity(n * 70),
        orders: String::with_capacity(n * 400),
        tickets: String::with_capacity(n * 100),
        contacts: String::with_capacity(n * 150),
        truth: String::new(),
        events: RecordBatch::new_empty(Arc::clone(&ctx.schema)),
        dirty: [[0; N_KINDS]; 5],
        last_lines: [None, None, None],
        counters,
    };
    let mut event_cols = EventCols::new(n * 50);
    let mut line = String::with_capacity(256);
    let mut cust_id = String::with_capacity(16);

    for idx in first..last {
        let c: Customer = model::simulate(&ctx.model, cal, opts.seed, idx);
        let no = idx + 1;
        out.counters.customers += 1;
        let mut dirt = (opts.dirty_rate > 0.0).then(|| Dirt::for_customer(opts, idx));
        cust_id.clear();
        push_customer_id(&mut cust_id, no);

        customers::render(cal, &c, no, &mut out, dirt.as_mut(), &mut line);
        orders::render(cal, &c, no, &mut out, dirt.as_mut(), &mut line);
        tickets::render(cal, &c, no, &mut out, dirt.as_mut(), &mut line);
        events::render(cal, &c, &cust_id, &mut event_cols, &mut out, dirt.as_mut());
        contacts::render(cal, &c, no, &mut out, dirt.as_mut(), &mut line);
        if opts.write_truth {
            truth::render(&mut out.truth, cal, &c, &cust_id);
        }
    }
    out.events = event_cols.finish(&ctx.schema)?;
    Ok(out)
}
