//! The warehouse's write lock (`_lock.json`): who holds it, taking it (or taking over a
//! stale one) as a fenced swap of the exact object read, and keeping it fresh while the
//! run works. [`Warehouse::lock`](crate::Warehouse::lock) and
//! [`Warehouse::unlock`](crate::Warehouse::unlock) are the entry points.
//!
//! Written here because no library does it over `object_store`: the protocol is
//! - **take**: a create-only PUT (`If-None-Match: *` on S3, an exclusive create on disk);
//! - **take over** a lock that is stale (not refreshed for `stale_after`) or whose holder
//!   is a process of this host that no longer exists: on a store with conditional
//!   updates (S3, GCS, Azure, memory) a PUT with `If-Match` on the ETag/version read, so
//!   of two runs that read the same stale lock exactly one replaces it; on the local file
//!   system, which has no conditional update, a create-only token named after the stale
//!   lock's bytes (`_tmp/_takeover/<hash>.json`: of several runs, one creates it), a
//!   check that the lock is still the one read, then an atomic replace. (Moving the lock
//!   aside by rename is not a fence: a slow run can move the lock the winner just took.)
//!   The next run's clean-up of `_tmp/` removes the tokens;
//! - **keep**: a background task rewrites the lock with a fresh `refreshed_at` every
//!   quarter of `stale_after`, conditionally on the version it last wrote (on disk: after
//!   checking the lock still names this run). When the lock names another run, or no
//!   refresh succeeded for `stale_after`, the lock is **lost**: the warehouse refuses
//!   every commit from then on ([`Error::LockLost`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion};

use crate::location::Conditional;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::location::Location;

/// Where the write lock lives, under the warehouse root.
pub const LOCK: &str = "_lock.json";

/// The warehouse's write lock (`_lock.json`): who holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub run_id: String,
    /// The command (`run`, `ingest`, `train`, …).
    pub command: String,
    pub as_of: Option<String>,
    pub host: String,
    pub pid: u32,
    /// The holder's pid namespace (`pid:[4026531836]` on Linux): a pid means the same
    /// process only within one namespace, so containers sharing a host name are told
    /// apart. Absent in locks written before it was recorded and off Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
    pub acquired_at: DateTime<Utc>,
    /// When the holder last rewrote the lock to say it is still working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<DateTime<Utc>>,
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
            pid_namespace: pid_namespace(),
            acquired_at: Utc::now(),
            refreshed_at: None,
        }
    }

    /// The last time the holder was known to be working.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.refreshed_at
            .map_or(self.acquired_at, |r| r.max(self.acquired_at))
    }

    /// Whether the holder is a process of this host and pid namespace that no longer
    /// exists (a run killed with SIGKILL, a crash): its lock is stale at once. A reused
    /// pid reads as alive, so the lock then waits for `stale_after`, the safe side.
    pub fn holder_is_gone(&self) -> bool {
        let me = Self::here("", "", None);
        self.host == me.host
            && self.pid != me.pid
            && self.pid_namespace.is_some()
            && self.pid_namespace == me.pid_namespace
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// The pid namespace of this process, on Linux.
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Why a lock that is there can be taken over, if it can.
fn takeover_reason(holder: Option<&LockInfo>, stale_after: Duration) -> Option<String> {
    let Some(h) = holder else {
        return Some("the lock file does not parse".into());
    };
    if h.holder_is_gone() {
        return Some(format!("its process (pid {} on this host) is gone", h.pid));
    }
    let age = (Utc::now() - h.last_seen()).to_std().unwrap_or_default();
    (age >= stale_after).then(|| {
        format!(
            "it was last refreshed {}s ago (stale after {}s)",
            age.as_secs(),
            stale_after.as_secs()
        )
    })
}

/// The lock's state shared between the warehouse and its refresher task.
#[derive(Debug, Default)]
pub(crate) struct LockState {
    /// Set when the lock was taken over or could not be refreshed in time.
    lost: AtomicBool,
    /// Who took it over, for the error.
    taken_by: std::sync::Mutex<Option<LockInfo>>,
    /// The running refresher: its stop signal and task.
    refresher: std::sync::Mutex<
        Option<(
            tokio::sync::watch::Sender<bool>,
            tokio::task::JoinHandle<()>,
        )>,
    >,
}

impl LockState {
    /// `Err(LockLost)` once the lock was lost.
    pub(crate) fn check(&self, location: &str, run_id: &str) -> Result<()> {
        if !self.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        let by = self.taken_by.lock().ok().and_then(|g| g.clone());
        Err(Error::LockLost {
            location: location.to_owned(),
            run_id: run_id.to_owned(),
            taken_by: by.map(Box::new),
        })
    }

    fn lose(&self, by: Option<LockInfo>) {
        if let Ok(mut g) = self.taken_by.lock() {
            *g = by;
        }
        self.lost.store(true, Ordering::SeqCst);
    }
}

/// A hash of a lock's bytes that every process of one build computes alike (SipHash
/// with fixed keys): the name of the token that claims its takeover.
fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// What a conditional replace did.
enum Swap {
    Done(UpdateVersion),
    Lost,
    /// The store has no conditional update (the local file system).
    Unsupported,
}

async fn swap(
    root: &Location,
    path: &Path,
    bytes: Vec<u8>,
    expected: UpdateVersion,
) -> Result<Swap> {
    match root
        .put_conditional(path, bytes, PutMode::Update(expected))
        .await
    {
        Ok(Conditional::Written(v)) => Ok(Swap::Done(v)),
        Ok(Conditional::Refused) | Err(object_store::Error::NotFound { .. }) => Ok(Swap::Lost),
        Err(object_store::Error::NotImplemented { .. }) => Ok(Swap::Unsupported),
        Err(source) => Err(Error::Store {
            location: root.url_of(path),
            source,
        }),
    }
}

/// Create the lock only if there is none; the version written, or `None` when one exists.
async fn create(root: &Location, path: &Path, bytes: Vec<u8>) -> Result<Option<UpdateVersion>> {
    match root.put_conditional(path, bytes, PutMode::Create).await {
        Ok(Conditional::Written(v)) => Ok(Some(v)),
        Ok(Conditional::Refused) => Ok(None),
        Err(source) => Err(Error::Store {
            location: root.url_of(path),
            source,
        }),
    }
}

/// Take the lock (see the module docs); the version written.
pub(crate) async fn acquire(
    root: &Location,
    info: &LockInfo,
    stale_after: Duration,
) -> Result<UpdateVersion> {
    let path = root.child(LOCK);
    let bytes = to_json(root, &path, info)?;
    let locked = |holder: LockInfo| Error::Locked {
        location: root.url_of(&path),
        holder: Box::new(holder),
        stale_after,
    };
    for _ in 0..3 {
        if let Some(v) = create(root, &path, bytes.clone()).await? {
            return Ok(v);
        }
        let Some((held, version)) = root.get_versioned(&path).await? else {
            // Released between our create and our read: try again.
            continue;
        };
        let holder: Option<LockInfo> = serde_json::from_slice(&held).ok();
        let Some(why) = takeover_reason(holder.as_ref(), stale_after) else {
            return Err(locked(holder.unwrap_or_else(|| info.clone())));
        };
        let who = holder.as_ref().map(|h| h.run_id.as_str()).unwrap_or("?");
        match swap(root, &path, bytes.clone(), version).await? {
            Swap::Done(v) => {
                tracing::warn!(holder = who, why, "took over the warehouse lock");
                return Ok(v);
            }
            // Another run took it over first: it is that run's now.
            Swap::Lost => continue,
            Swap::Unsupported if root.store_url.scheme() == "file" => {}
            Swap::Unsupported => {
                // Without If-Match nothing fences a replace against a slow run there
                // (the local disk's token is safe only with its atomic rename).
                return Err(Error::InvalidLocation {
                    location: root.url(),
                    message: "the store does not support conditional updates (If-Match), which taking over a stale write lock needs; on S3 leave `aws_conditional_put` at its default (`etag`)".into(),
                });
            }
        }
        // The local file system: claim the takeover of this exact lock with a
        // create-only token named after its bytes (of several runs, one creates it),
        // check the lock is still what was read, then replace it.
        let token = root.child(&format!(
            "{}/_takeover/{:016x}.json",
            crate::warehouse::TMP,
            content_hash(&held)
        ));
        if create(root, &token, bytes.clone()).await?.is_none() {
            // Another run is taking this lock over: it will be that run's.
            continue;
        }
        match root.get_versioned(&path).await? {
            Some((now, _)) if now == held => {}
            _ => continue,
        }
        let written = root
            .store
            .put(&path, PutPayload::from(bytes.clone()))
            .await
            .map_err(|source| Error::Store {
                location: root.url_of(&path),
                source,
            })?;
        tracing::warn!(holder = who, why, "took over the warehouse lock");
        return Ok(UpdateVersion {
            e_tag: written.e_tag,
            version: written.version,
        });
    }
    let holder = match root.get_versioned(&path).await? {
        Some((b, _)) => serde_json::from_slice(&b).unwrap_or_else(|_| info.clone()),
        None => info.clone(),
    };
    Err(locked(holder))
}

fn to_json(root: &Location, path: &Path, info: &LockInfo) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(info).map_err(|e| Error::CorruptManifest {
        location: root.url_of(path),
        message: e.to_string(),
    })
}

/// Start keeping the lock fresh: every quarter of `stale_after`, rewrite it with a new
/// `refreshed_at`, conditionally on the version last written.
pub(crate) fn start_refresher(
    root: Location,
    mut info: LockInfo,
    mut version: UpdateVersion,
    stale_after: Duration,
    state: Arc<LockState>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let every = (stale_after / 4).max(Duration::from_millis(50));
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let state = task_state;
        let path = root.child(LOCK);
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop_rx.changed() => return,
            }
            info.refreshed_at = Some(Utc::now());
            match refresh(&root, &path, &info, &version).await {
                Ok(Ok(v)) => {
                    version = v;
                    last_ok = std::time::Instant::now();
                }
                Ok(Err(by)) => {
                    tracing::error!(
                        taken_by = ?by.as_ref().map(|h| &h.run_id),
                        "the warehouse lock was taken over: this run stops publishing"
                    );
                    state.lose(by);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not refresh the warehouse lock");
                    if last_ok.elapsed() >= stale_after {
                        tracing::error!(
                            "the warehouse lock was not refreshed for {}s: this run stops publishing",
                            stale_after.as_secs()
                        );
                        state.lose(None);
                        return;
                    }
                }
            }
        }
    });
    if let Ok(mut g) = state.refresher.lock() {
        *g = Some((stop_tx, task));
    }
}

/// One refresh: the new version, or `Err(holder)` when the lock is no longer this run's.
async fn refresh(
    root: &Location,
    path: &Path,
    info: &LockInfo,
    version: &UpdateVersion,
) -> Result<std::result::Result<UpdateVersion, Option<LockInfo>>> {
    let bytes = to_json(root, path, info)?;
    let current = || async {
        Ok::<_, Error>(match root.get_versioned(path).await? {
            Some((b, v)) => (serde_json::from_slice::<LockInfo>(&b).ok(), Some(v)),
            None => (None, None),
        })
    };
    match swap(root, path, bytes.clone(), version.clone()).await? {
        Swap::Done(v) => Ok(Ok(v)),
        Swap::Lost => Ok(Err(current().await?.0)),
        Swap::Unsupported => {
            // The local file system: check it is still ours, then rewrite it.
            let (holder, _) = current().await?;
            match holder {
                Some(h) if h.run_id == info.run_id => {
                    root.put(path, bytes).await?;
                    Ok(Ok(version.clone()))
                }
                other => Ok(Err(other)),
            }
        }
    }
}

/// Stop the refresher and wait for it, so that no refresh lands after the release.
pub(crate) async fn stop_refresher(state: &LockState) {
    let running = state.refresher.lock().ok().and_then(|mut g| g.take());
    if let Some((stop, task)) = running {
        let _ = stop.send(true);
        let _ = task.await;
    }
}
