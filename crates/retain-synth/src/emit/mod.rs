//! Turns simulated customers into file rows (clean and, in dirty mode, injected bad rows).
//!
//! A chunk of consecutive customers is rendered into in-memory text buffers and one Arrow
//! batch; ids are sequential over the whole shop, carried from chunk to chunk in
//! [`Counters`], so the output does not depend on the chunk size.
//!
//! One module per file written ([`customers`], [`orders`], [`tickets`], [`events`],
//! [`contacts`], [`truth`]), over the shared [`text`] formatting, [`cells`] (files, keys,
//! timestamps) and [`dirty`] (bad-row kinds and draws); [`chunk`] holds the types a chunk
//! worker shares, carries and returns, and [`render`] drives one chunk through the file
//! modules. No module imports one that imports it.

mod cells;
mod chunk;
mod contacts;
mod customers;
mod dirty;
mod events;
mod orders;
mod render;
mod text;
mod tickets;
mod truth;

pub(crate) use cells::File;
pub(crate) use chunk::{ChunkOut, Counters, Ctx};
pub(crate) use contacts::CONTACTS_HEADER;
pub(crate) use customers::CUSTOMERS_HEADER;
pub(crate) use dirty::{DirtyCounts, Kind, N_KINDS, dirty_map, unterminated_line};
pub(crate) use events::events_schema;
pub(crate) use orders::ORDERS_HEADER;
pub(crate) use render::render_chunk;
pub(crate) use truth::TRUTH_HEADER;
