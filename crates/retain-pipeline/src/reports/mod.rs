//! The HTML pages retain writes beside what they describe, each rendered from record
//! types alone (never from a stage's live state), so a page can be re-rendered and
//! tested from its record:
//! - [`run`]: `runs/<run_id>.html`, from a [`RunRecord`](crate::RunRecord);
//! - `model`: `models/<model>/<version>/report.html`, from what training produced
//!   (`crate::evaluation`'s types).
//!
//! Architecture invariant: nothing here reads the warehouse or runs SQL.

pub(crate) mod model;
pub mod run;
