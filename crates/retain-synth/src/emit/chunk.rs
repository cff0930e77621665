//! What the chunk workers share ([`Ctx`]), carry from chunk to chunk ([`Counters`]) and
//! return ([`ChunkOut`]).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::dirty::DirtyCounts;
use crate::SynthOptions;
use crate::calendar::Calendar;
use crate::model::Model;

/// Everything shared by the chunk workers.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub opts: SynthOptions,
    pub cal: Calendar,
    pub model: Model,
    pub schema: SchemaRef,
}

/// Running ids and counts, carried from chunk to chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub customers: u64,
    pub orders: u64,
    pub tickets: u64,
    pub events: u64,
    pub contacts: u64,
    /// Injected rows with a fresh key, per file (`OX00000001`, ...).
    pub injected_keys: [u64; 5],
}

/// One rendered chunk.
#[derive(Debug)]
pub(crate) struct ChunkOut {
    pub customers: String,
    pub orders: String,
    pub tickets: String,
    pub contacts: String,
    pub truth: String,
    pub events: RecordBatch,
    pub dirty: DirtyCounts,
    /// Last clean line of customers, orders and contacts (templates for the final
    /// unterminated-quote line in dirty mode).
    pub last_lines: [Option<String>; 3],
    /// The running counters: the chunk's starting ones, advanced customer by customer.
    pub counters: Counters,
}
