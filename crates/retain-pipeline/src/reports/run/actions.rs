//! The "Action mix" section.

use retain_report::Report;

use crate::runs::RunRecord;

use super::*;

pub(super) fn section(page: &mut Report, r: &RunRecord) -> Result<(), retain_report::Error> {
    page.heading(SECTIONS[4]);
    let Some(a) = &r.actions else {
        page.paragraph("This command decided no actions.");
        return Ok(());
    };
    let treated: u64 = a.actions.values().map(|x| x.treated).sum();
    let selected: u64 = a.actions.values().map(|x| x.selected).sum();
    let without: u64 = a.no_action.values().sum();
    page.paragraph(&format!(
        "Policy {}: {} customers; {} selected for one of {} actions ({} treated, {} held out \
         as controls), {} without an action. Spent {}{}; expected value of the treated {}.",
        a.policy,
        a.customers,
        selected,
        a.actions.len(),
        treated,
        a.controls,
        without,
        money(a.spent),
        a.budget.map_or_else(
            || " (no overall budget)".to_owned(),
            |b| format!(" of a budget of {}", money(b))
        ),
        money(a.expected_value)
    ));
    if a.actions.is_empty() || selected == 0 {
        page.paragraph("No customer was selected for any action.");
    } else {
        bars(
            page,
            "Customers per action",
            "customers",
            a.actions.keys().cloned().collect(),
            vec![
                (
                    "treated".to_owned(),
                    a.actions.values().map(|x| x.treated as f64).collect(),
                ),
                (
                    "control".to_owned(),
                    a.actions.values().map(|x| x.control as f64).collect(),
                ),
            ],
            vec![],
        )?;
    }
    let opt_money = |v: Option<f64>| v.map_or_else(String::new, money);
    let mut rows: Vec<Vec<String>> = a
        .actions
        .iter()
        .map(|(name, x)| {
            vec![
                name.clone(),
                x.selected.to_string(),
                x.treated.to_string(),
                x.control.to_string(),
                money(x.spent),
                opt_money(x.budget),
                x.capacity.map_or_else(String::new, |c| c.to_string()),
                money(x.expected_value),
            ]
        })
        .collect();
    rows.push(vec![
        "total".to_owned(),
        selected.to_string(),
        treated.to_string(),
        a.controls.to_string(),
        money(a.spent),
        opt_money(a.budget),
        String::new(),
        money(a.expected_value),
    ]);
    page.table(
        "Actions (spend and expected value of the treated customers; budget and capacity as the policy sets them)",
        &[
            "action",
            "selected",
            "treated",
            "control",
            "spent",
            "budget",
            "capacity",
            "expected value",
        ],
        &rows,
    );
    if a.no_action.is_empty() {
        page.paragraph("Every customer got an action.");
        return Ok(());
    }
    bars(
        page,
        "Customers without an action, by reason",
        "customers",
        a.no_action.keys().cloned().collect(),
        vec![(
            "customers".to_owned(),
            a.no_action.values().map(|v| *v as f64).collect(),
        )],
        vec![],
    )?;
    let rows: Vec<Vec<String>> = a
        .no_action
        .iter()
        .map(|(k, v)| {
            vec![
                k.clone(),
                v.to_string(),
                percent(*v as f64, a.customers as f64),
            ]
        })
        .collect();
    page.table(
        "Customers without an action (no_action), by the kind of reason",
        &["reason", "customers", "share of customers"],
        &rows,
    );
    Ok(())
}
