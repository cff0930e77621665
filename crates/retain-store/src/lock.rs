//! The warehouse's write lock file: where it lives and who holds it. Taking and
//! releasing it is [`Warehouse::lock`](crate::Warehouse::lock) and
//! [`Warehouse::unlock`](crate::Warehouse::unlock).

use serde::{Deserialize, Serialize};

/// The warehouse's write lock (`_lock.json`): who holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub run_id: String,
    /// The command (`run`, `ingest`, `train`, …).
    pub command: String,
    pub as_of: Option<String>,
    pub host: String,
    pub pid: u32,
    pub acquired_at: chrono::DateTime<chrono::Utc>,
}

impl LockInfo {
    /// This process, now.
    pub fn here(run_id: &str, command: &str, as_of: Option<String>) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            run_id: run_id.to_owned(),
            command: command.to_owned(),
            as_of,
            host,
            pid: std::process::id(),
            acquired_at: chrono::Utc::now(),
        }
    }
}

/// Where the write lock lives, under the warehouse root.
pub const LOCK: &str = "_lock.json";
