//! The "Model metrics" section.

use retain_report::Report;

use crate::runs::{MODEL_TRAINED, RunRecord};

use super::*;

pub(super) fn section(page: &mut Report, r: &RunRecord) -> Result<(), retain_report::Error> {
    page.heading(SECTIONS[3]);
    if r.models.is_empty() {
        if r.models_registered.is_empty() && r.models_used.is_empty() {
            page.paragraph("This command trained no model and scored with none.");
            return Ok(());
        }
        // A record written before the metrics were recorded: the versions only.
        let rows: Vec<Vec<String>> = r
            .models_registered
            .iter()
            .map(|(m, v)| strings(&[m, v, "trained"]))
            .chain(
                r.models_used
                    .iter()
                    .map(|(m, v)| strings(&[m, v, "scored with"])),
            )
            .collect();
        page.table(
            "Model versions (this record has no metrics)",
            &["model", "version", "role"],
            &rows,
        );
        return Ok(());
    }
    let role = |m: &crate::ModelRecord| {
        if m.role == MODEL_TRAINED {
            "trained"
        } else {
            "scored with"
        }
    };
    let rows: Vec<Vec<String>> = r
        .models
        .iter()
        .map(|m| {
            vec![
                m.model.clone(),
                m.version.clone(),
                role(m).to_owned(),
                auc(m.validation_auc),
                auc(m.baseline_auc),
                auc(m.train_auc),
                auc(m.ece),
                count(m.training_rows),
                count(m.validation_rows),
            ]
        })
        .collect();
    page.table(
        "Models trained in this run, then the champions it scored with. AUC: ROC AUC on the \
         out-of-time validation snapshot; baseline: customers ranked by recency alone; train: \
         on the fitted rows; ECE: expected calibration error (validation).",
        &[
            "model",
            "version",
            "role",
            "AUC",
            "baseline AUC",
            "train AUC",
            "ECE",
            "fitted rows",
            "validation rows",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = r
        .models
        .iter()
        .map(|m| {
            vec![
                m.model.clone(),
                m.version.clone(),
                role(m).to_owned(),
                m.algorithm.clone(),
                m.validation_snapshot
                    .map_or_else(|| "n/a".to_owned(), |d| d.to_string()),
                m.promotion.clone().unwrap_or_default(),
            ]
        })
        .collect();
    page.table(
        "Algorithm, validation snapshot and, for the models trained, what happened to the champion",
        &[
            "model",
            "version",
            "role",
            "algorithm",
            "validated on",
            "promotion",
        ],
        &rows,
    );
    let charted: Vec<&crate::ModelRecord> = r
        .models
        .iter()
        .filter(|m| m.validation_auc.is_some())
        .collect();
    if charted.is_empty() {
        page.paragraph("No model has an out-of-time AUC (its validation snapshot has one class).");
        return Ok(());
    }
    let of = |f: fn(&crate::ModelRecord) -> Option<f64>| -> Vec<f64> {
        charted.iter().map(|m| f(m).unwrap_or(0.0)).collect()
    };
    let mut series = vec![("model".to_owned(), of(|m| m.validation_auc))];
    if charted.iter().any(|m| m.baseline_auc.is_some()) {
        series.push(("naive baseline".to_owned(), of(|m| m.baseline_auc)));
    }
    bars(
        page,
        "Out-of-time ROC AUC: model vs naive baseline",
        "ROC AUC (0.5: no better than chance)",
        charted
            .iter()
            .map(|m| format!("{} {} ({})", m.model, m.version, role(m)))
            .collect(),
        series,
        vec![("chance".to_owned(), 0.5)],
    )
}
