//! The HTML pages retain writes beside what they describe, each rendered from record
//! types alone (never from a stage's live state), so a page can be re-rendered and
//! tested from its record:
//! - [`run`]: `runs/<run_id>.html`, from a [`RunRecord`](crate::RunRecord);
//! - `model`: `models/<model>/<version>/report.html`, from what training produced
//!   (`crate::records::training`'s types);
//! - [`clv`]: `models/clv/<version>/report.html`, from a CLV version's model and metrics
//!   (`crate::records::clv`'s types).
//!
//! Architecture invariant: nothing here reads the warehouse or runs SQL.

pub mod clv;
pub(crate) mod model;
pub mod run;
