//! The "Rows in, staged and quarantined" section.

use std::collections::BTreeMap;

use retain_report::Report;

use crate::runs::RunRecord;

use super::*;
use crate::records::run::under_warehouse;

pub(super) fn section(page: &mut Report, r: &RunRecord) -> Result<(), retain_report::Error> {
    page.heading(SECTIONS[1]);
    if r.sources.is_empty() {
        if r.rows_read == 0 && r.quarantine_reasons.is_empty() {
            page.paragraph(if r.status == "succeeded" {
                "This command did not ingest: it read the staged tables an earlier ingest published."
            } else {
                "No ingest accounting: the command does not ingest, or failed before its ingest finished."
            });
            return Ok(());
        }
        // A record written before per-source accounting: the totals only.
        page.table(
            "Ingest totals (this record has no per-source accounting)",
            &["read", "staged", "quarantined"],
            &[vec![
                r.rows_read.to_string(),
                r.rows_staged.to_string(),
                r.rows_quarantined.to_string(),
            ]],
        );
        let mut reasons: Vec<(&str, &str, u64)> = r
            .quarantine_reasons
            .iter()
            .map(|(k, v)| ("all sources", k.as_str(), *v))
            .collect();
        reasons.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(b.1)));
        reason_table(page, &reasons, r.rows_quarantined, None);
        return Ok(());
    }
    let duplicates: u64 = r.sources.iter().map(|s| s.duplicates).sum();
    page.paragraph(&format!(
        "{} rows read from {} sources: {} staged, {} quarantined ({}), {} exact duplicates dropped.",
        r.rows_read,
        r.sources.len(),
        r.rows_staged,
        r.rows_quarantined,
        percent(r.rows_quarantined as f64, r.rows_read as f64),
        duplicates
    ));
    let col = |f: fn(&crate::runs::SourceRecord) -> u64| -> Vec<f64> {
        r.sources.iter().map(|s| f(s) as f64).collect()
    };
    let mut series = vec![
        ("read".to_owned(), col(|s| s.read)),
        ("staged".to_owned(), col(|s| s.staged)),
        ("quarantined".to_owned(), col(|s| s.quarantined)),
    ];
    if duplicates > 0 {
        series.push(("duplicates".to_owned(), col(|s| s.duplicates)));
    }
    bars(
        page,
        "Rows per source",
        "rows",
        r.sources.iter().map(|s| s.table.clone()).collect(),
        series,
        vec![],
    )?;
    let mut table: Vec<Vec<String>> = r
        .sources
        .iter()
        .map(|s| {
            vec![
                s.table.clone(),
                s.read.to_string(),
                s.staged.to_string(),
                s.quarantined.to_string(),
                s.duplicates.to_string(),
                percent(s.quarantined as f64, s.read as f64),
                // Sources under the warehouse (the demo's raw/) relative to it.
                under_warehouse(&r.warehouse, &s.source).to_owned(),
            ]
        })
        .collect();
    table.push(vec![
        "total".to_owned(),
        r.rows_read.to_string(),
        r.rows_staged.to_string(),
        r.rows_quarantined.to_string(),
        duplicates.to_string(),
        percent(r.rows_quarantined as f64, r.rows_read as f64),
        String::new(),
    ]);
    page.table(
        "Rows per source (from: relative to the warehouse when under it)",
        &[
            "source",
            "read",
            "staged",
            "quarantined",
            "duplicates",
            "quarantined share",
            "from",
        ],
        &table,
    );
    let mut reasons: Vec<(&str, &str, u64)> = r
        .sources
        .iter()
        .flat_map(|s| {
            s.reasons
                .iter()
                .map(move |(k, v)| (s.table.as_str(), k.as_str(), *v))
        })
        .collect();
    reasons.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
    let read: BTreeMap<&str, u64> = r
        .sources
        .iter()
        .map(|s| (s.table.as_str(), s.read))
        .collect();
    reason_table(page, &reasons, r.rows_quarantined, Some(&read));
    Ok(())
}

/// The top quarantine reasons by rows, `(source, reason, rows)` sorted by rows.
fn reason_table(
    page: &mut Report,
    reasons: &[(&str, &str, u64)],
    quarantined: u64,
    read: Option<&BTreeMap<&str, u64>>,
) {
    if reasons.is_empty() {
        page.paragraph("No row was quarantined.");
        return;
    }
    let rows: Vec<Vec<String>> = reasons
        .iter()
        .take(TOP_REASONS)
        .map(|(source, reason, n)| {
            let of_source = read
                .and_then(|m| m.get(source))
                .map_or_else(|| "n/a".to_owned(), |r| percent(*n as f64, *r as f64));
            vec![
                (*source).to_owned(),
                (*reason).to_owned(),
                n.to_string(),
                percent(*n as f64, quarantined as f64),
                of_source,
            ]
        })
        .collect();
    page.table(
        &format!(
            "Top quarantine reasons ({} of {} by rows; the rows are in quarantine/<source>/)",
            rows.len(),
            reasons.len()
        ),
        &[
            "source",
            "reason",
            "rows",
            "share of quarantined",
            "share of the source's rows",
        ],
        &rows,
    );
}
