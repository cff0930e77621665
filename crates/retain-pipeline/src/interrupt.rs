//! SIGINT (Ctrl-C) and SIGTERM during a writing command. Without this, a scheduler
//! stopping a run left `_lock.json` and no run record, and every retry was refused until
//! the lock went stale (issue 20, finding 4). The first writing command of the process
//! installs the handlers (they then stay, so a signal between two dates of a backfill
//! is not lost either); `commands::writing` races its body against `stopped`, and on
//! a signal drops the body (what it wrote aside is removed by the next run, nothing
//! half-published is visible: publishing is a commit per partition), writes the failed
//! run record and releases the lock. The process then exits with 128 + the signal's
//! number, as a shell reports a process killed by it.

use std::sync::OnceLock;

use tokio::sync::watch;

/// A signal that stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

static RECEIVED: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();

/// The process's signal state, installing the handlers on first use (inside the tokio
/// runtime). Handlers that cannot be installed leave the default behaviour, logged.
pub(crate) fn listen() -> watch::Receiver<Option<Signal>> {
    RECEIVED
        .get_or_init(|| {
            let (tx, rx) = watch::channel(None);
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                // Registered here, synchronously: a signal from now on is seen.
                match (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) {
                    (Ok(mut int), Ok(mut term)) => {
                        tokio::spawn(async move {
                            let s = tokio::select! {
                                _ = int.recv() => Signal::Interrupt,
                                _ = term.recv() => Signal::Terminate,
                            };
                            tracing::warn!(signal = s.name(), "stopping: the run record is written and the warehouse lock released");
                            let _ = tx.send(Some(s));
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!(error = %e, "cannot handle SIGINT/SIGTERM: a stopped run leaves its lock until it goes stale");
                    }
                }
            }
            #[cfg(not(unix))]
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = tx.send(Some(Signal::Interrupt));
                }
            });
            rx
        })
        .clone()
}

/// Resolves when a signal was received (now or earlier); never, if none can be.
pub(crate) async fn stopped(rx: &mut watch::Receiver<Option<Signal>>) -> Signal {
    // Copied out at once: the borrow guard must not live across an await (not Send).
    let received = rx.wait_for(Option::is_some).await.map(|s| *s);
    match received {
        Ok(s) => s.unwrap_or(Signal::Terminate),
        Err(_) => std::future::pending().await,
    }
}
