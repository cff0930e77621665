//! The canonical staged tables of DESIGN.md, as Arrow schemas. Staging SQL must produce
//! exactly these columns and types (checked before anything is written); a source the
//! shop does not have is registered as an empty table of this schema. Each table's key
//! and orders ([`dedup_rule`]) drive the one deduplication and reject step
//! ([`staging_tail`]) added after every staging file's rules.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_window::expr_fn::{dense_rank, row_number};
use datafusion::logical_expr::{Expr, ExprFunctionExt, SortExpr, col, lit, when};
use datafusion::prelude::DataFrame;

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

/// [`schema`] of a table the pipeline itself names: a missing contract is a programming
/// error (the table lists are out of step), reported as [`crate::Error::NoContract`].
pub fn required_schema(table: &str) -> crate::Result<SchemaRef> {
    schema(table).ok_or_else(|| crate::Error::NoContract {
        table: table.to_owned(),
    })
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

/// How staging keeps one row per key of a table: rows with equal `key` values are
/// versions of one row; they are ranked by `versions`, the first is staged, its identical
/// copies are `exact_duplicate` (counted, not quarantined) and other versions are
/// quarantined as `duplicate_key`. Rows a staging rule rejected are ranked apart and keep
/// their own reason.
#[derive(Debug, Clone, Copy)]
pub struct Dedup {
    /// The columns whose values identify a row.
    pub key: &'static [&'static str],
    /// The column `_reject_column` names for a duplicate, and the detail of a
    /// `duplicate_key`.
    pub reported: &'static str,
    /// Versions ranked by these columns, `(column, descending)`, nulls last.
    pub versions: &'static [(&'static str, bool)],
    /// Order of the staged and quarantined rows, then `_source_file` and `_source_row`:
    /// reruns write the same rows in the same order, and the feature queries read
    /// clustered row groups.
    pub order: &'static [&'static str],
}

/// The deduplication rule of a staged table (the rules each staging file used to repeat
/// at its end).
pub fn dedup_rule(table: &str) -> Option<Dedup> {
    const ASC: bool = false;
    let rule = match table {
        // Versions ranked by (signup_at, then every other column).
        "customers" => Dedup {
            key: &["customer_id"],
            reported: "customer_id",
            versions: &[
                ("signup_at", ASC),
                ("country", ASC),
                ("birth_date", ASC),
                ("email_opt_in", ASC),
                ("sms_opt_in", ASC),
                ("loyalty_member", ASC),
            ],
            order: &["customer_id", "signup_at"],
        },
        // Versions ranked by (ordered_at, then every other column): the choice depends
        // only on the values, never on file or row order.
        "orders" => Dedup {
            key: &["order_id"],
            reported: "order_id",
            versions: &[
                ("ordered_at", ASC),
                ("customer_id", ASC),
                ("status", ASC),
                ("gross_amount", ASC),
                ("discount_amount", ASC),
                ("currency", ASC),
                ("channel", ASC),
                ("category", ASC),
                ("item_count", ASC),
            ],
            order: &["customer_id", "ordered_at", "order_id"],
        },
        // Versions ranked by latest resolved_at (a later export of the same ticket carries
        // its resolution), then the other columns.
        "support_tickets" => Dedup {
            key: &["ticket_id"],
            reported: "ticket_id",
            versions: &[
                ("resolved_at", true),
                ("opened_at", ASC),
                ("customer_id", ASC),
                ("channel", ASC),
                ("topic", ASC),
                ("priority", ASC),
                ("csat_score", ASC),
                ("reopened_count", ASC),
            ],
            order: &["customer_id", "opened_at", "ticket_id"],
        },
        // Versions ranked by (occurred_at, then the other columns).
        "engagement_events" => Dedup {
            key: &["event_id"],
            reported: "event_id",
            versions: &[
                ("occurred_at", ASC),
                ("customer_id", ASC),
                ("event_type", ASC),
                ("channel", ASC),
                ("value", ASC),
            ],
            order: &["customer_id", "occurred_at", "event_id"],
        },
        // The row is its own key: repeats are one contact, the copies `exact_duplicate`.
        "contacts" => Dedup {
            key: &["customer_id", "action", "contacted_at"],
            reported: "contacted_at",
            versions: &[("customer_id", ASC)],
            order: &["customer_id", "contacted_at", "action"],
        },
        _ => return None,
    };
    Some(rule)
}

/// The columns a staging file's query ends with when the deduplication is left to
/// [`staging_tail`]: its rules' verdict and the reader's provenance.
pub const STAGING_BOOKKEEPING: [&str; 4] =
    ["_invalid", "_read_detail", "_source_file", "_source_row"];

/// The deduplication and reject columns after a staging file's rules, for files that
/// return the canonical columns then `_invalid` (NULL for a valid row, else a struct of
/// the `reason` code and the `column` it concerns, from the file's one CASE of rules),
/// `_read_detail`, `_source_file` and `_source_row`. The result has the canonical
/// columns, then `_reject_reason`, `_reject_column`, `_reject_detail`, `_source_file`
/// and `_source_row`, sorted by the table's [`Dedup::order`].
///
/// A file that returns `_reject_reason` itself (the form before this step existed, or
/// one with its own deduplication) is returned unchanged.
pub fn staging_tail(table: &str, df: DataFrame) -> Result<DataFrame, String> {
    let schema = df.schema().as_arrow().clone();
    if schema.field_with_name("_reject_reason").is_ok() {
        return Ok(df);
    }
    let Some(rule) = dedup_rule(table) else {
        return Err(format!("`{table}` is not a canonical table"));
    };
    let verdict = Fields::from(vec![
        Field::new("reason", DataType::Utf8, true),
        Field::new("column", DataType::Utf8, true),
    ]);
    match schema.field_with_name("_invalid").map(|f| f.data_type()) {
        Ok(DataType::Struct(fields))
            if fields
                .iter()
                .map(|f| (f.name(), f.data_type()))
                .eq(verdict.iter().map(|f| (f.name(), f.data_type()))) => {}
        Ok(other) => {
            return Err(format!(
                "produces `_invalid` as {other}, it must be named_struct('reason', <code>, 'column', <column>) or NULL"
            ));
        }
        Err(_) => {
            return Err(format!(
                "produces neither `_invalid` nor `_reject_reason`: a staging query ends with the canonical columns, then {}",
                STAGING_BOOKKEEPING.map(|c| format!("`{c}`")).join(", ")
            ));
        }
    }
    let fail = |e: datafusion::error::DataFusionError| e.to_string();
    let reason = get_field(col("_invalid"), "reason");
    let invalid = || reason.clone().is_not_null();
    let mut partition: Vec<Expr> = rule.key.iter().map(|c| col(*c)).collect();
    partition.push(reason.clone().is_null());
    let versions: Vec<SortExpr> = rule
        .versions
        .iter()
        .map(|&(c, descending)| col(c).sort(!descending, false))
        .collect();
    let rank = |f: Expr, name: &str| {
        f.partition_by(partition.clone())
            .order_by(versions.clone())
            .build()
            .map(|e| e.alias(name))
    };
    let version = rank(dense_rank(), "_version").map_err(fail)?;
    let copy = rank(row_number(), "_copy").map_err(fail)?;
    let later_version = || col("_version").gt(lit(1u64));
    let later_copy = || col("_copy").gt(lit(1u64));
    let mut out: Vec<Expr> = schema
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_'))
        .map(|f| col(f.name()))
        .collect();
    out.extend([
        when(invalid(), reason.clone())
            .when(later_version(), lit("duplicate_key"))
            .when(later_copy(), lit("exact_duplicate"))
            .end()
            .map_err(fail)?
            .alias("_reject_reason"),
        when(invalid(), get_field(col("_invalid"), "column"))
            .when(later_copy(), lit(rule.reported))
            .end()
            .map_err(fail)?
            .alias("_reject_column"),
        when(invalid(), col("_read_detail"))
            .when(
                later_version(),
                lit(format!(
                    "another row with this {} has different values and was staged",
                    rule.reported
                )),
            )
            .end()
            .map_err(fail)?
            .alias("_reject_detail"),
        col("_source_file"),
        col("_source_row"),
    ]);
    let order: Vec<SortExpr> = rule
        .order
        .iter()
        .copied()
        .chain(["_source_file", "_source_row"])
        .map(|c| col(c).sort(true, false))
        .collect();
    df.window(vec![version, copy])
        .and_then(|df| df.select(out))
        .and_then(|df| df.sort(order))
        .map_err(fail)
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
    ("scores/customer_risk", 3),
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
        assert_eq!(schema_version("scores/customer_risk"), Some(3));
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
