//! The "Feature null rates and drift" section.

use retain_report::{Report, fmt_num};

use crate::runs::{DriftInput, RunRecord};

use super::*;

pub(super) fn section(page: &mut Report, r: &RunRecord) -> Result<(), retain_report::Error> {
    page.heading(SECTIONS[2]);
    let Some(d) = &r.drift else {
        page.paragraph(
            "This command did not score, so no model input was compared with its training data.",
        );
        return Ok(());
    };
    if d.inputs.is_empty() {
        page.paragraph("Scoring compared no model input (the models have none).");
        return Ok(());
    }
    let drifted: Vec<String> = d
        .inputs
        .iter()
        .filter(|i| i.drifted)
        .map(|i| format!("{} {}", i.model, i.feature))
        .collect();
    page.paragraph(&format!(
        "Each scoring model's inputs over its population at scoring, against the champion's \
         training data. An input drifted when its mean moved more than {} training standard \
         deviations or its null share changed by more than {} points ([score] drift_shift, \
         drift_null_share): {} of {} inputs{}",
        fmt_num(d.shift_threshold),
        fmt_num(100.0 * d.null_share_threshold),
        drifted.len(),
        d.inputs.len(),
        if drifted.is_empty() {
            ".".to_owned()
        } else {
            format!(" ({}).", drifted.join(", "))
        }
    ));
    let label = |i: &DriftInput| format!("{}: {}", i.model, i.feature);

    // Null shares: only the inputs with any.
    let with_nulls: Vec<&DriftInput> = d
        .inputs
        .iter()
        .filter(|i| {
            i.training_null_share.unwrap_or(0.0) > 0.0 || i.scoring_null_share.unwrap_or(0.0) > 0.0
        })
        .collect();
    if with_nulls.is_empty() {
        page.paragraph("No model input has missing values, in training or at scoring.");
    } else {
        page.paragraph(&format!(
            "Null share of the {} inputs with missing values (the other {} have none, in \
             training or at scoring).",
            with_nulls.len(),
            d.inputs.len() - with_nulls.len()
        ));
        bars(
            page,
            "Null share per input: training vs scoring",
            "share of rows without a value",
            with_nulls.iter().map(|i| label(i)).collect(),
            vec![
                (
                    "training".to_owned(),
                    with_nulls
                        .iter()
                        .map(|i| i.training_null_share.unwrap_or(0.0))
                        .collect(),
                ),
                (
                    "scoring".to_owned(),
                    with_nulls
                        .iter()
                        .map(|i| i.scoring_null_share.unwrap_or(0.0))
                        .collect(),
                ),
            ],
            vec![],
        )?;
    }

    // Mean shift, one chart per model.
    let mut models: Vec<&str> = Vec::new();
    for i in &d.inputs {
        if !models.contains(&i.model.as_str()) {
            models.push(&i.model);
        }
    }
    for model in models {
        let inputs: Vec<&DriftInput> = d.inputs.iter().filter(|i| i.model == model).collect();
        let shifted: Vec<(&DriftInput, f64)> = inputs
            .iter()
            .filter_map(|i| i.shift_in_sd.map(|s| (*i, s)))
            .collect();
        if shifted.is_empty() {
            page.paragraph(&format!(
                "No input of {model} has a mean shift (no values at scoring)."
            ));
            continue;
        }
        let missing = inputs.len() - shifted.len();
        if missing > 0 {
            page.paragraph(&format!(
                "{missing} inputs of {model} have no mean shift (no values at scoring, or a \
                 constant input whose value changed); they count as drifted, see the table."
            ));
        }
        let mut references = Vec::new();
        if d.shift_threshold.is_finite() {
            references.push((
                format!("threshold {} sd", fmt_num(d.shift_threshold)),
                d.shift_threshold,
            ));
        }
        bars(
            page,
            &format!("Mean shift per input, {model}"),
            "|scoring mean − training mean| in training standard deviations",
            shifted.iter().map(|(i, _)| i.feature.clone()).collect(),
            vec![(
                "shift".to_owned(),
                shifted.iter().map(|(_, s)| *s).collect(),
            )],
            references,
        )?;
    }

    let rows: Vec<Vec<String>> = d
        .inputs
        .iter()
        .map(|i| {
            vec![
                i.model.clone(),
                i.feature.clone(),
                num(i.training_mean),
                num(i.scoring_mean),
                share(i.training_null_share),
                share(i.scoring_null_share),
                num(i.shift_in_sd),
                if i.drifted { "DRIFTED" } else { "" }.to_owned(),
            ]
        })
        .collect();
    page.table(
        "Every model input (means of the values present; the mean shift in training standard deviations)",
        &[
            "model",
            "input",
            "training mean",
            "scoring mean",
            "training nulls",
            "scoring nulls",
            "shift (sd)",
            "drifted",
        ],
        &rows,
    );
    Ok(())
}
