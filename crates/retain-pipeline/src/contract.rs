//! The canonical staged tables of DESIGN.md, as Arrow schemas. Staging SQL must produce
//! exactly these columns and types (checked before anything is written); a source the
//! shop does not have is registered as an empty table of this schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Source tables in the order they are staged (customers first: the others check their
/// references against it).
pub const TABLES: [&str; 5] = [
    "customers",
    "orders",
    "support_tickets",
    "engagement_events",
    "contacts",
];

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn f(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

/// The canonical schema of a staged table.
pub fn schema(table: &str) -> Option<SchemaRef> {
    use DataType::*;
    let fields = match table {
        "customers" => vec![
            f("customer_id", Utf8),
            f("signup_at", ts()),
            f("country", Utf8),
            f("birth_date", Date32),
            f("email_opt_in", Boolean),
            f("sms_opt_in", Boolean),
            f("loyalty_member", Boolean),
        ],
        "orders" => vec![
            f("order_id", Utf8),
            f("customer_id", Utf8),
            f("ordered_at", ts()),
            f("status", Utf8),
            f("gross_amount", Float64),
            f("discount_amount", Float64),
            f("currency", Utf8),
            f("channel", Utf8),
            f("category", Utf8),
            f("item_count", Int64),
        ],
        "support_tickets" => vec![
            f("ticket_id", Utf8),
            f("customer_id", Utf8),
            f("opened_at", ts()),
            f("resolved_at", ts()),
            f("channel", Utf8),
            f("topic", Utf8),
            f("priority", Utf8),
            f("csat_score", Int64),
            f("reopened_count", Int64),
        ],
        "engagement_events" => vec![
            f("event_id", Utf8),
            f("customer_id", Utf8),
            f("occurred_at", ts()),
            f("event_type", Utf8),
            f("channel", Utf8),
            f("value", Float64),
        ],
        "contacts" => vec![
            f("customer_id", Utf8),
            f("action", Utf8),
            f("contacted_at", ts()),
        ],
        _ => return None,
    };
    Some(Arc::new(Schema::new(fields)))
}

/// The schema contract version of every published table, recorded as `schema_version`
/// in each partition's `_manifest.json` so that a reader can tell which contract it
/// reads. A change to a table's columns (added, removed, renamed or retyped) bumps its
/// number here and adds a line to the changelog of docs/tables.md, whose sections state
/// the current numbers (the end-to-end test compares them with the manifests).
/// `training/*` is every model spec's training table.
pub const SCHEMA_VERSIONS: &[(&str, u32)] = &[
    ("staged/customers", 1),
    ("staged/orders", 1),
    ("staged/support_tickets", 1),
    ("staged/engagement_events", 1),
    ("staged/contacts", 1),
    ("quarantine/customers", 1),
    ("quarantine/orders", 1),
    ("quarantine/support_tickets", 1),
    ("quarantine/engagement_events", 1),
    ("quarantine/contacts", 1),
    ("features/customer", 1),
    ("training/*", 1),
    ("scores/customer_risk", 1),
    ("scores/next_best_action", 1),
];

/// The schema contract version of a published table (see [`SCHEMA_VERSIONS`]).
pub fn schema_version(table: &str) -> Option<u32> {
    SCHEMA_VERSIONS.iter().find_map(|&(pattern, version)| {
        let hit = match pattern.strip_suffix('*') {
            Some(prefix) => table.starts_with(prefix) && table.len() > prefix.len(),
            None => table == pattern,
        };
        hit.then_some(version)
    })
}

/// Compare the columns a staging query produces (without its `_`-prefixed bookkeeping
/// columns: `_reject_*`, `_source_*`) with
/// the contract; the message names the first difference.
pub fn check(table: &str, produced: &Schema) -> Result<(), String> {
    let Some(expected) = schema(table) else {
        return Err(format!("`{table}` is not a canonical table"));
    };
    let produced: Vec<&Field> = produced
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_'))
        .map(|f| f.as_ref())
        .collect();
    let names = |fs: &mut dyn Iterator<Item = &Field>| {
        fs.map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
    };
    if produced.len() != expected.fields().len() {
        return Err(format!(
            "produces columns [{}], the contract is [{}]",
            names(&mut produced.iter().copied()),
            names(&mut expected.fields().iter().map(|f| f.as_ref()))
        ));
    }
    for (p, e) in produced.iter().zip(expected.fields()) {
        if p.name() != e.name() {
            return Err(format!(
                "produces column `{}` where the contract has `{}`",
                p.name(),
                e.name()
            ));
        }
        if p.data_type() != e.data_type() {
            return Err(format!(
                "produces `{}` as {}, the contract says {}",
                p.name(),
                p.data_type(),
                e.data_type()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_table_has_a_schema_version() {
        for t in TABLES {
            assert_eq!(schema_version(&format!("staged/{t}")), Some(1), "{t}");
            assert_eq!(schema_version(&format!("quarantine/{t}")), Some(1), "{t}");
        }
        assert_eq!(schema_version("training/churn_gbdt"), Some(1));
        assert_eq!(schema_version("scores/customer_risk"), Some(1));
        assert_eq!(schema_version("training/"), None);
        assert_eq!(schema_version("staged/unknown"), None);
    }

    #[test]
    fn every_table_has_a_schema_and_a_mismatch_is_named() {
        for t in TABLES {
            let s = schema(t).unwrap();
            assert!(check(t, &s).is_ok());
        }
        let mut fields: Vec<Field> = schema("orders")
            .unwrap()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[4] = Field::new("gross_amount", DataType::Utf8, true);
        let err = check("orders", &Schema::new(fields)).unwrap_err();
        assert_eq!(
            err,
            "produces `gross_amount` as Utf8, the contract says Float64"
        );
    }
}
