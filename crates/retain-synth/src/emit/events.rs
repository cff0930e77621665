//! `engagement_events/`: the Parquet schema, the Arrow columns of a chunk, and one row per
//! event inside the window with its injected bad rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::Rng;

use super::cells::{File, Key, push_customer_id, push_key};
use super::chunk::ChunkOut;
use super::dirty::{Dirt, Kind, OUT_OF_RANGE_SECS};
use crate::calendar::Calendar;
use crate::model::{Customer, EventType};

/// Kinds injected between rows (see [`Kind`]).
const EVENT_KINDS: &[Kind] = &[
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
];

/// The schema of every part file.
pub(crate) fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// The engagement events of a chunk, column by column.
pub(super) struct EventCols {
    id: StringBuilder,
    customer: StringBuilder,
    at: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    channel: StringBuilder,
    value: Float64Builder,
    scratch: String,
}

impl EventCols {
    pub(super) fn new(capacity: usize) -> Self {
        EventCols {
            id: StringBuilder::with_capacity(capacity, capacity * 11),
            customer: StringBuilder::with_capacity(capacity, capacity * 8),
            at: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            kind: StringBuilder::with_capacity(capacity, capacity * 11),
            channel: StringBuilder::with_capacity(capacity, capacity * 4),
            value: Float64Builder::with_capacity(capacity),
            scratch: String::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// One row; `customer` is the id cell (`C0000001`).
    pub(super) fn push(
        &mut self,
        key: Key,
        customer: &str,
        secs: i64,
        kind: &str,
        channel: &str,
        value: Option<f64>,
    ) {
        self.scratch.clear();
        push_key(&mut self.scratch, File::Events, key);
        self.id.append_value(&self.scratch);
        self.customer.append_value(customer);
        self.at.append_value(secs.saturating_mul(1_000_000));
        self.kind.append_value(kind);
        self.channel.append_value(channel);
        self.value.append_option(value);
    }

    pub(super) fn finish(
        mut self,
        schema: &SchemaRef,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.customer.finish()),
            Arc::new(self.at.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.value.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns)
    }
}

/// Append the events of the customer whose id cell is `cust_id` (in dirty mode with
/// injected bad rows).
pub(super) fn render(
    cal: &Calendar,
    c: &Customer,
    cust_id: &str,
    events: &mut EventCols,
    out: &mut ChunkOut,
    mut dirt: Option<&mut Dirt>,
) {
    let end_t = cal.days;
    for e in c.events.iter().take_while(|e| e.t < end_t) {
        out.counters.events += 1;
        let secs = cal.secs(e.t);
        let key = Key::Clean(out.counters.events);
        events.push(key, cust_id, secs, e.kind.as_str(), e.channel, e.value);
        let Some(d) = dirt.as_deref_mut() else {
            continue;
        };
        let Some(kind) = d.maybe(EVENT_KINDS) else {
            continue;
        };
        let mut fresh = || {
            out.counters.injected_keys[File::Events as usize] += 1;
            Key::Injected(out.counters.injected_keys[File::Events as usize])
        };
        match kind {
            Kind::OutOfRangeDate => {
                let s = d.pick(&OUT_OF_RANGE_SECS);
                events.push(fresh(), cust_id, s, e.kind.as_str(), e.channel, e.value);
            }
            Kind::ExactDuplicate => {
                events.push(key, cust_id, secs, e.kind.as_str(), e.channel, e.value);
            }
            Kind::DuplicateKey => {
                let (k, ch) = if e.kind == EventType::WebSession {
                    (EventType::AppSession, "app")
                } else {
                    (EventType::WebSession, "web")
                };
                let v = Some(f64::from(d.rng.random_range(1..600u32)) / 10.0);
                events.push(key, cust_id, secs, k.as_str(), ch, v);
            }
            Kind::UnknownCustomer => {
                let mut other = String::new();
                push_customer_id(&mut other, d.unknown_customer());
                let k = fresh();
                events.push(k, &other, secs, e.kind.as_str(), e.channel, e.value);
            }
            _ => {}
        }
        out.dirty[File::Events as usize][kind as usize] += 1;
    }
}
