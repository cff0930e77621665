//! The storage layer's errors, and object_store errors rendered as one line.

use std::time::Duration;

use crate::lock::LockInfo;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The warehouse or source location is not a URL or path we can use.
    #[error("invalid location `{location}`: {message}")]
    InvalidLocation { location: String, message: String },
    /// The object store refused or failed an operation.
    #[error("storage error at `{location}`: {}", describe(source))]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// A Delta Lake log could not be read or written.
    #[error("delta log of `{location}`: {message}")]
    Delta { location: String, message: String },
    /// Writing Parquet failed.
    #[error("cannot write parquet `{location}`: {source}")]
    Parquet {
        location: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The batches fed to the writer failed upstream (e.g. a query error).
    #[error("producing rows for `{location}` failed: {source}")]
    Upstream {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A partition was asked for that has no manifest: it was never published (or its
    /// publish did not complete).
    #[error(
        "table `{table}` partition `{partition}` is not published (no _manifest.json at `{location}`)"
    )]
    NotPublished {
        table: String,
        partition: String,
        location: String,
    },
    /// A manifest exists but cannot be parsed.
    #[error("corrupt manifest `{location}`: {message}")]
    CorruptManifest { location: String, message: String },
    /// Another run holds the warehouse's write lock.
    #[error(
        "the warehouse is in use by run {} ({}, as of {}, on {} pid {}, since {}): retain does not interleave two runs on one warehouse. The lock ends with that run, or counts as stale when its run has not refreshed it for {} (the next run then takes it over); to break it by hand, delete `{location}`",
        holder.run_id,
        holder.command,
        holder.as_of.as_deref().unwrap_or("-"),
        holder.host,
        holder.pid,
        holder.acquired_at.format("%Y-%m-%dT%H:%M:%SZ"),
        humantime(*stale_after)
    )]
    Locked {
        location: String,
        holder: Box<LockInfo>,
        stale_after: Duration,
    },
    /// A published data file is missing or differs from its manifest entry.
    #[error(
        "published file `{location}` {}, its manifest (run {run_id}) says {expected} bytes: it was changed outside retain; republish the partition (rerun the command that wrote it)",
        match found {
            Some(n) => format!("is {n} bytes"),
            None => "is missing".to_owned(),
        }
    )]
    NotAsPublished {
        location: String,
        expected: u64,
        found: Option<u64>,
        run_id: String,
    },
    /// Another run took this run's write lock over (it was not refreshed in time), so
    /// this run may publish nothing more.
    #[error(
        "run {run_id} lost the warehouse lock `{location}`{}: it published nothing more; rerun the command",
        match taken_by {
            Some(h) => format!(" to run {} ({} on {} pid {})", h.run_id, h.command, h.host, h.pid),
            None => " (it could not be refreshed in time)".to_owned(),
        }
    )]
    LockLost {
        location: String,
        run_id: String,
        taken_by: Option<Box<LockInfo>>,
    },
}

/// `2h`, `90m`, `45s`: a duration as people write it.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes in one line: each cause's text is appended unless an outer
/// message already contains it, and runs of whitespace (some DataFusion, TOML and HTTP
/// messages span several lines) become one space. The workspace's one renderer of an
/// error chain: retain-pipeline re-exports it as `one_line` for run records and the CLI.
/// It lives here, in the lowest crate whose errors have chains worth walking.
pub fn chain_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    // object_store's request errors say everything twice (once per level of its chain)
    // with retry bookkeeping: from the first one on, one short clause instead, whatever
    // wraps it (a Parquet reader's `External` error, a DataFusion stream).
    if let Some(pos) = s.find("Server returned non-2xx status code") {
        let start = s[..pos].rfind("Generic ").unwrap_or(pos);
        let clause = server_failed(&s[start..]);
        // An outer message (a storage error's own `describe`) may have said it already.
        s = if s[..start].contains(&clause) {
            s[..start].trim_end().trim_end_matches(':').to_owned()
        } else {
            format!("{}{clause}", &s[..start])
        };
    }
    // DataFusion's memory pool ran out: say which setting an operator changes.
    if s.contains("Resources exhausted") && !s.contains("memory-limit") {
        s.push_str(" (raise `memory-limit` in [engine]: this job needed more than the pool, and DataFusion's hash joins and some aggregations cannot spill)");
    }
    line(&s)
}

/// The most characters of an error line [`line()`] keeps.
pub const MAX_LINE_CHARS: usize = 4096;

/// Text fit for one line of a terminal, a log or a run record, whatever it holds (an
/// error can quote a raw file's header): every run of whitespace becomes one space,
/// other control characters are escaped (`\u{1b}`), and past [`MAX_LINE_CHARS`]
/// characters the rest is cut, saying how much.
pub fn line(s: &str) -> String {
    line_within(s, MAX_LINE_CHARS)
}

/// [`line()`] cut at `max` characters: a quote inside a message that says more after it.
pub fn line_within(s: &str, max: usize) -> String {
    let mut out = String::new();
    let (mut kept, mut cut) = (0usize, 0usize);
    for (i, word) in s.split_whitespace().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        for c in sep.chars().chain(word.chars()) {
            if kept == max {
                cut += 1;
                continue;
            }
            kept += 1;
            if c.is_control() {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
    }
    if cut > 0 {
        out.push_str(&format!("… [{cut} more characters]"));
    }
    out
}

/// An object_store error as one line: the kind of failure first, without the retry
/// bookkeeping and nested `source:` chains a user cannot act on.
pub fn describe(e: &object_store::Error) -> String {
    use object_store::Error as E;
    let full = chain_line(e);
    let has = |needle: &str| full.contains(needle);
    match e {
        E::NotFound { .. } if has("NoSuchBucket") => "bucket does not exist".into(),
        E::NotFound { .. } => "not found".into(),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            "access denied: check the credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY)".into()
        }
        _ if has("NoSuchBucket") => "bucket does not exist".into(),
        _ if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") || has("AccessDenied") || has("403 Forbidden") => {
            "access denied: check the credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY)".into()
        }
        _ if has("Server returned non-2xx status code") => server_failed(&full),
        _ if has("error sending request") || has("Connection refused") || has("connect") || has("dns error") => {
            let retries = if has("after ") { " (retried until the retry timeout)" } else { "" };
            format!("cannot reach the storage endpoint{retries}: {}", root_cause(e))
        }
        _ => full,
    }
}

/// `Error performing PUT http://… in 371ms, after 3 retries, … - Server returned non-2xx
/// status code: 500 Internal Server Error: <?xml …><Error><Code>InternalError</Code>
/// <Message>…</Message></Error>` (once per level of object_store's chain) as
/// `the storage server answered PUT with 500 Internal Server Error (InternalError: …),
/// after 3 retries`.
fn server_failed(full: &str) -> String {
    let between = |from: &str, to: &str| -> Option<&str> {
        let start = full.find(from)? + from.len();
        let len = full[start..].find(to)?;
        Some(full[start..start + len].trim())
    };
    let method = between("Error performing ", " ").unwrap_or("a request");
    let status = between("non-2xx status code: ", ":").unwrap_or("an error");
    let code = between("<Code>", "</Code>");
    let message = between("<Message>", "</Message>");
    let detail = match (code, message) {
        (Some(c), Some(m)) => format!(" ({c}: {m})"),
        (Some(c), None) => format!(" ({c})"),
        _ => String::new(),
    };
    let retries = between("after ", " retries")
        .map(|n| format!(", after {n} retries"))
        .unwrap_or_default();
    format!("the storage server answered {method} with {status}{detail}{retries}")
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server error is one short line: the request, the status, S3's code and message,
    /// the retries; not object_store's chain, which says it all twice.
    #[test]
    fn a_server_error_is_described_once() {
        let one = "Generic S3 error: Error performing PUT http://127.0.0.1:33191/b/wh/t/_manifest.json in 371.2ms, after 3 retries, max_retries: 3, retry_timeout: 10s - Server returned non-2xx status code: 500 Internal Server Error: <?xml version=\"1.0\" encoding=\"UTF-8\"?> <Error><Code>InternalError</Code><Message>injected by faulty_proxy.py</Message></Error>";
        let full = format!("{one}: {one}");
        assert_eq!(
            server_failed(&full),
            "the storage server answered PUT with 500 Internal Server Error (InternalError: injected by faulty_proxy.py), after 3 retries"
        );
        let wrapped = format!("producing rows for `x` failed: Parquet error: External: {full}");
        assert_eq!(
            chain_line(&std::io::Error::other(wrapped)),
            "producing rows for `x` failed: Parquet error: External: the storage server answered PUT with 500 Internal Server Error (InternalError: injected by faulty_proxy.py), after 3 retries"
        );
        // A storage error whose message already says it (HEAD replies have no body).
        let head = "Generic S3 error: Error performing HEAD http://h/b/k in 2ms, after 2 retries, max_retries: 2, retry_timeout: 10s - Server returned non-2xx status code: 500 Internal Server Error: ";
        let said = format!("storage error at `k`: {}: {head}", server_failed(head));
        assert_eq!(
            chain_line(&std::io::Error::other(said)),
            "storage error at `k`: the storage server answered HEAD with 500 Internal Server Error, after 2 retries"
        );
        assert_eq!(
            server_failed("Server returned non-2xx status code: 503 Service Unavailable: "),
            "the storage server answered a request with 503 Service Unavailable"
        );
    }

    /// Issue 20's finding 9: a headerless 50 MB one-line CSV gave a 50 MB "one-line"
    /// error, and control bytes from a header reached the terminal raw.
    #[test]
    fn a_line_is_one_line_escaped_and_bounded() {
        assert_eq!(line("a\n  b\t\r\nc"), "a b c");
        assert_eq!(line("col\u{1b}[31mred\u{7}"), "col\\u{1b}[31mred\\u{7}");
        let huge = "x,".repeat(5_000_000);
        let l = line(&format!("no column `status`: the export has: {huge}"));
        assert!(l.chars().count() < MAX_LINE_CHARS + 40, "{}", l.len());
        assert!(l.starts_with("no column `status`: the export has: x,x,"));
        let total = "no column `status`: the export has: ".len() + huge.len();
        assert!(
            l.ends_with(&format!("… [{} more characters]", total - MAX_LINE_CHARS)),
            "{}",
            &l[l.len() - 60..]
        );
        // Multi-byte characters are cut at a character, never inside one.
        let l = line(&"é".repeat(MAX_LINE_CHARS + 5));
        assert!(l.starts_with(&"é".repeat(MAX_LINE_CHARS)) && l.ends_with("… [5 more characters]"));
    }

    #[test]
    fn an_exhausted_memory_pool_names_the_setting() {
        let e = std::io::Error::other(
            "producing rows failed: Resources exhausted: Failed to allocate additional 393.8 KB for SingleHashAggregateStream[1]",
        );
        let l = chain_line(&e);
        assert!(
            l.starts_with("producing rows failed: Resources exhausted")
                && l.ends_with("cannot spill)")
                && l.matches("raise `memory-limit` in [engine]").count() == 1,
            "{l}"
        );
    }
}
