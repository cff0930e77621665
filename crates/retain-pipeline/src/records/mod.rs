//! What the stages read and produced, as data: plain serde types with no behaviour that
//! reaches the warehouse or the engine. Stages build them; the run record, the HTML
//! pages ([`crate::reports`]), the errors and the CLI read them, so none of those depends
//! on a stage.
//!
//! Architecture invariant: nothing here uses another module of this crate.

pub mod clv;
pub mod ingest;
pub mod run;
pub(crate) mod training;
