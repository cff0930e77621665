//! `retain-synth`: a seeded, deterministic synthetic e-commerce shop.
//!
//! [`generate`] writes the raw exports of a shop (customers, orders, support tickets,
//! engagement events, campaign contacts) under a prefix of an object store. The data come
//! from a buy-till-you-die process with shopper types, seasonality, first-order and
//! support-driven churn and engagement that fades before dropout, so that churn and
//! repeat-purchase models have real signal to learn. `docs/synthetic-data.md` describes
//! the model, the file formats and the measured signal.
//!
//! Same [`SynthOptions`] → byte-identical files: every customer draws from their own
//! ChaCha8 stream, ids are sequential in output order and nothing reads the clock.
//! Customers are simulated and written in chunks, so memory stays bounded for any size.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

mod calendar;
mod emit;
mod model;
mod sink;

use emit::{ChunkOut, Counters, Ctx, File, Kind, N_KINDS};
use sink::{EventSink, TextSink};

const DEFAULT_START: NaiveDate = match NaiveDate::from_ymd_opt(2024, 11, 1) {
    Some(d) => d,
    None => panic!("invalid default start date"),
};
const DEFAULT_END: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 1) {
    Some(d) => d,
    None => panic!("invalid default end date"),
};
const MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("invalid minimum date"),
};
const MAX_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2999, 12, 31) {
    Some(d) => d,
    None => panic!("invalid maximum date"),
};
/// Longest accepted window, in days (about 100 years).
const MAX_WINDOW_DAYS: i64 = 36_525;
/// Customers simulated per chunk (one blocking task each).
const CHUNK_CUSTOMERS: u64 = 2_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SynthOptions {
    /// Number of customers (sign-ups), at least 1.
    pub customers: u64,
    /// Seed of every random stream: same options, same bytes.
    pub seed: u64,
    /// First day of the export window (00:00 UTC, inclusive).
    pub start: NaiveDate,
    /// End of the export window (00:00 UTC, exclusive): nothing happens at or after it.
    pub end: NaiveDate,
    /// Share of injected bad rows per file, in `[0, 0.5]`; 0 writes clean files.
    pub dirty_rate: f64,
    /// Also write `_truth/customers.csv` with the latent variables of every customer.
    pub write_truth: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            customers: 50_000,
            seed: 42,
            start: DEFAULT_START,
            end: DEFAULT_END,
            dirty_rate: 0.0,
            write_truth: false,
        }
    }
}

impl SynthOptions {
    /// Check the options; [`generate`] calls this before writing anything.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidOptions(msg));
        if self.customers == 0 {
            return invalid("customers must be at least 1, got 0".into());
        }
        if self.start >= self.end {
            return invalid(format!(
                "start ({}) must be before end ({})",
                self.start, self.end
            ));
        }
        if self.start < MIN_DATE || self.end > MAX_DATE {
            return invalid(format!(
                "start and end must lie between {MIN_DATE} and {MAX_DATE}, got {} to {}",
                self.start, self.end
            ));
        }
        if (self.end - self.start).num_days() > MAX_WINDOW_DAYS {
            return invalid(format!(
                "the window from {} to {} is longer than {MAX_WINDOW_DAYS} days",
                self.start, self.end
            ));
        }
        if !(0.0..=0.5).contains(&self.dirty_rate) {
            return invalid(format!(
                "dirty_rate must be between 0 and 0.5, got {}",
                self.dirty_rate
            ));
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SynthSummary {
    /// Rows in `customers.csv` (clean rows only, without injected bad rows).
    pub customers: u64,
    /// Clean rows in `orders.csv`.
    pub orders: u64,
    /// Clean rows in `support_tickets.ndjson`.
    pub support_tickets: u64,
    /// Clean rows in `engagement_events/`.
    pub engagement_events: u64,
    /// Clean rows in `contacts.csv`.
    pub contacts: u64,
    /// Injected bad rows by `<file stem>.<kind>` (`orders.negative_amount`); only non-zero
    /// counts, empty when `dirty_rate` is 0. Every injected row is an extra row.
    pub dirty: BTreeMap<String, u64>,
    /// Files written, relative to the prefix, `_synth.json` (written last) included.
    pub files: Vec<String>,
}

/// Errors of [`generate`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options are invalid; nothing was written.
    #[error("invalid synthetic-data options: {0}")]
    InvalidOptions(String),
    /// An object store operation failed.
    #[error("object store error on `{path}`")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// Streaming a text file to the object store failed.
    #[error("failed to write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing a Parquet part failed.
    #[error("failed to write Parquet file `{path}`")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed (a bug).
    #[error("failed to build the engagement events batch")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Serialising `_synth.json` failed (a bug).
    #[error("failed to serialise `_synth.json`")]
    Json(#[from] serde_json::Error),
    /// A bug in the generator.
    #[error("internal error in the synthetic-data generator: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Generate a shop under `prefix` (see `docs/synthetic-data.md` for the files).
///
/// Files are streamed; each appears whole when complete. `_synth.json` marks a complete
/// shop: an old one is deleted first and the new one is written last. Part files of `engagement_events/` (and `_truth/customers.csv` when
/// `write_truth` is off) left under the prefix by an earlier, larger run are removed, so
/// the prefix always holds one consistent shop.
#[tracing::instrument(skip_all, fields(prefix = %prefix, customers = opts.customers, seed = opts.seed))]
pub async fn generate(
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
    opts: &SynthOptions,
) -> Result<SynthSummary> {
    generate_chunked(store, prefix, opts, CHUNK_CUSTOMERS, sink::PART_ROWS).await
}

/// `prefix/part/part...`
fn obj(prefix: &Path, parts: &[&str]) -> Path {
    parts.iter().fold(prefix.clone(), |p, part| p.join(*part))
}

/// The writers of one run.
struct Sinks {
    customers: TextSink,
    orders: TextSink,
    tickets: TextSink,
    contacts: TextSink,
    truth: Option<TextSink>,
    events: EventSink,
}

impl Sinks {
    async fn abort(&mut self) {
        self.customers.abort().await;
        self.orders.abort().await;
        self.tickets.abort().await;
        self.contacts.abort().await;
        if let Some(t) = self.truth.as_mut() {
            t.abort().await;
        }
        self.events.abort().await;
    }
}

async fn generate_chunked(
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
    opts: &SynthOptions,
    chunk: u64,
    rows_per_part: usize,
) -> Result<SynthSummary> {
    opts.validate()?;
    let started = std::time::Instant::now();
    // the manifest marks a complete shop: drop an old one before overwriting its files
    let manifest = obj(prefix, &["_synth.json"]);
    match store.delete(&manifest).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(source) => {
            return Err(Error::Store {
                path: manifest.to_string(),
                source,
            });
        }
    }
    let model = model::Model::new().map_err(Error::Internal)?;
    let ctx = Arc::new(Ctx {
        opts: opts.clone(),
        cal: calendar::Calendar::new(opts.start, opts.end),
        model,
        schema: emit::events_schema(),
    });
    let mut sinks = Sinks {
        customers: TextSink::new(&store, obj(prefix, &["customers.csv"])),
        orders: TextSink::new(&store, obj(prefix, &["orders.csv"])),
        tickets: TextSink::new(&store, obj(prefix, &["support_tickets.ndjson"])),
        contacts: TextSink::new(&store, obj(prefix, &["contacts.csv"])),
        truth: opts
            .write_truth
            .then(|| TextSink::new(&store, obj(prefix, &["_truth", "customers.csv"]))),
        events: EventSink::new(
            &store,
            obj(prefix, &["engagement_events"]),
            Arc::clone(&ctx.schema),
            rows_per_part,
        ),
    };
    let result = run(&ctx, &mut sinks, chunk.max(1)).await;
    let (counters, dirty) = match result {
        Ok(r) => r,
        Err(e) => {
            sinks.abort().await;
            return Err(e);
        }
    };

    let mut files: Vec<String> = vec![
        "customers.csv".into(),
        "orders.csv".into(),
        "support_tickets.ndjson".into(),
    ];
    files.extend(
        sinks
            .events
            .parts
            .iter()
            .map(|p| format!("engagement_events/{p}")),
    );
    files.push("contacts.csv".into());
    if opts.write_truth {
        files.push("_truth/customers.csv".into());
    }
    files.push("_synth.json".into());
    remove_stale(&store, prefix, &sinks.events.parts, opts.write_truth).await?;

    let summary = SynthSummary {
        customers: counters.customers,
        orders: counters.orders,
        support_tickets: counters.tickets,
        engagement_events: counters.events,
        contacts: counters.contacts,
        dirty: emit::dirty_map(&dirty),
        files,
    };
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        generator: &'a str,
        options: &'a SynthOptions,
        summary: &'a SynthSummary,
    }
    let mut json = serde_json::to_vec_pretty(&Manifest {
        generator: concat!("retain-synth ", env!("CARGO_PKG_VERSION")),
        options: opts,
        summary: &summary,
    })?;
    json.push(b'\n');
    store
        .put(&manifest, PutPayload::from(json))
        .await
        .map_err(|source| Error::Store {
            path: manifest.to_string(),
            source,
        })?;
    tracing::info!(
        customers = summary.customers,
        orders = summary.orders,
        support_tickets = summary.support_tickets,
        engagement_events = summary.engagement_events,
        contacts = summary.contacts,
        dirty_rows = summary.dirty.values().sum::<u64>(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "synthetic shop generated"
    );
    Ok(summary)
}

/// Simulate and write every chunk; returns the final counters and the dirty counts.
async fn run(
    ctx: &Arc<Ctx>,
    sinks: &mut Sinks,
    chunk: u64,
) -> Result<(Counters, emit::DirtyCounts)> {
    let n = ctx.opts.customers;
    let spawn = |first: u64, counters: Counters| {
        let ctx = Arc::clone(ctx);
        let last = first.saturating_add(chunk).min(n);
        tokio::task::spawn_blocking(move || emit::render_chunk(&ctx, first, last, counters))
    };

    sinks
        .customers
        .write(format!("{}\n", emit::CUSTOMERS_HEADER).as_bytes())
        .await?;
    sinks
        .orders
        .write(format!("{}\n", emit::ORDERS_HEADER).as_bytes())
        .await?;
    sinks
        .contacts
        .write(format!("{}\n", emit::CONTACTS_HEADER).as_bytes())
        .await?;
    if let Some(t) = sinks.truth.as_mut() {
        t.write(format!("{}\n", emit::TRUTH_HEADER).as_bytes())
            .await?;
    }

    let mut dirty = [[0u64; N_KINDS]; 5];
    let mut last_lines: [Option<String>; 3] = [None, None, None];
    let mut counters = Counters::default();
    let mut next = chunk.min(n);
    let mut pending = Some(spawn(0, Counters::default()));
    while let Some(handle) = pending.take() {
        let out: ChunkOut = handle
            .await
            .map_err(|e| Error::Internal(format!("generator task failed: {e}")))??;
        // simulate the next chunk while this one is written
        if next < n {
            pending = Some(spawn(next, out.counters.clone()));
            next = next.saturating_add(chunk).min(n);
        }
        for (file, counts) in dirty.iter_mut().zip(out.dirty.iter()) {
            for (total, c) in file.iter_mut().zip(counts.iter()) {
                *total += c;
            }
        }
        for (kept, new) in last_lines.iter_mut().zip(out.last_lines) {
            if new.is_some() {
                *kept = new;
            }
        }
        counters = out.counters;
        tracing::debug!(customers = counters.customers, "chunk generated");
        sinks.customers.write(out.customers.as_bytes()).await?;
        sinks.orders.write(out.orders.as_bytes()).await?;
        sinks.tickets.write(out.tickets.as_bytes()).await?;
        sinks.contacts.write(out.contacts.as_bytes()).await?;
        if let Some(t) = sinks.truth.as_mut() {
            t.write(out.truth.as_bytes()).await?;
        }
        sinks.events.write(&out.events).await?;
    }

    // dirty mode: each CSV file ends with a line whose quote is never closed
    if ctx.opts.dirty_rate > 0.0 {
        for (template, file) in
            last_lines
                .iter()
                .zip([File::Customers, File::Orders, File::Contacts])
        {
            let Some(template) = template else { continue };
            let slot = &mut counters.injected_keys[file as usize];
            if file != File::Contacts {
                *slot += 1;
            }
            let mut line = emit::unterminated_line(template, file, *slot);
            line.push('\n');
            let sink = match file {
                File::Customers => &mut sinks.customers,
                File::Orders => &mut sinks.orders,
                _ => &mut sinks.contacts,
            };
            sink.write(line.as_bytes()).await?;
            dirty[file as usize][Kind::UnterminatedQuote as usize] += 1;
        }
    }

    sinks.customers.finish().await?;
    sinks.orders.finish().await?;
    sinks.tickets.finish().await?;
    sinks.contacts.finish().await?;
    if let Some(t) = sinks.truth.as_mut() {
        t.finish().await?;
    }
    sinks.events.finish().await?;
    Ok((counters, dirty))
}

/// Remove part files beyond the ones just written, and a stale truth file.
async fn remove_stale(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
    parts: &[String],
    write_truth: bool,
) -> Result<()> {
    let store_err = |path: &Path| {
        let path = path.to_string();
        move |source| Error::Store { path, source }
    };
    let dir = obj(prefix, &["engagement_events"]);
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(store_err(&dir))?;
    let mut stale: Vec<Path> = listed
        .into_iter()
        .map(|m| m.location)
        .filter(|p| {
            p.parts().count() == dir.parts().count() + 1
                && p.filename().is_some_and(|f| {
                    f.starts_with("part-")
                        && f.ends_with(".parquet")
                        && !parts.iter().any(|w| w == f)
                })
        })
        .collect();
    if !write_truth {
        stale.push(obj(prefix, &["_truth", "customers.csv"]));
    }
    for path in stale {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(&path)(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
