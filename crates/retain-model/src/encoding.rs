//! How a model's input columns become the numeric columns its estimator sees: numbers
//! and booleans as they are (null = missing, imputed by the estimator), strings one-hot
//! over the categories seen in training. The categories are stored in the artifact; at
//! scoring a value training never saw (or a null) sets none of its column's indicators,
//! which is what "none of the known categories" means to every estimator here.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// At most this many categories per string column: more is an identifier, not a category.
pub const MAX_CATEGORIES: usize = 50;

/// One input column of the feature table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Input {
    /// A number or boolean, cast to f64; null is missing.
    Number { column: String },
    /// A string, one indicator column per category (sorted), named `column=category`.
    OneHot {
        column: String,
        categories: Vec<String>,
    },
}

impl Input {
    /// The feature-table column it reads.
    pub fn column(&self) -> &str {
        match self {
            Input::Number { column } | Input::OneHot { column, .. } => column,
        }
    }
}

/// The inputs of a model, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    pub inputs: Vec<Input>,
}

fn data_err(message: String) -> Error {
    Error::Data {
        model: String::new(),
        message,
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        data_err(format!(
            "feature column `{name}` is missing from the feature table"
        ))
    })
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl Encoding {
    /// Learn the encoding of `features` from training batches: string columns get their
    /// sorted distinct non-null values (at most [`MAX_CATEGORIES`]).
    pub fn learn(batches: &[RecordBatch], features: &[String]) -> Result<Self> {
        let mut inputs = Vec::with_capacity(features.len());
        for name in features {
            let is_str = match batches.first() {
                Some(b) => is_string(column(b, name)?.data_type()),
                None => false,
            };
            if !is_str {
                inputs.push(Input::Number {
                    column: name.clone(),
                });
                continue;
            }
            let mut seen = BTreeSet::new();
            for b in batches {
                let col = arrow::compute::cast(column(b, name)?, &DataType::Utf8)
                    .map_err(|e| data_err(format!("feature column `{name}`: {e}")))?;
                for v in col.as_string::<i32>().iter().flatten() {
                    if !seen.contains(v) {
                        seen.insert(v.to_owned());
                    }
                }
                if seen.len() > MAX_CATEGORIES {
                    return Err(data_err(format!(
                        "feature column `{name}` has more than {MAX_CATEGORIES} distinct values in the training rows: an identifier, not a category; leave it out (`exclude`)"
                    )));
                }
            }
            inputs.push(Input::OneHot {
                column: name.clone(),
                categories: seen.into_iter().collect(),
            });
        }
        Ok(Self { inputs })
    }

    /// Every input as numbers only (no training data needed).
    pub fn numbers(features: &[String]) -> Self {
        Self {
            inputs: features
                .iter()
                .map(|c| Input::Number { column: c.clone() })
                .collect(),
        }
    }

    /// The estimator's column names: `column` for a number, `column=category` for each
    /// indicator.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in &self.inputs {
            match i {
                Input::Number { column } => out.push(column.clone()),
                Input::OneHot { column, categories } => {
                    out.extend(categories.iter().map(|c| format!("{column}={c}")))
                }
            }
        }
        out
    }

    /// The feature-table columns the encoding reads.
    pub fn source_columns(&self) -> Vec<&str> {
        self.inputs.iter().map(Input::column).collect()
    }

    /// The design matrix of `batches`: NaN for a missing number, 0/1 indicators for a
    /// category (all 0 for null or a value training never saw).
    pub fn matrix(&self, batches: &[RecordBatch]) -> Result<Array2<f64>> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let width = self.columns().len();
        let mut x = Array2::from_elem((rows, width), f64::NAN);
        let mut offset = 0;
        for batch in batches {
            let mut j = 0;
            for input in &self.inputs {
                match input {
                    Input::Number { column: name } => {
                        let cast = arrow::compute::cast(column(batch, name)?, &DataType::Float64)
                            .map_err(|e| {
                            data_err(format!("feature column `{name}` is not numeric: {e}"))
                        })?;
                        let values = cast.as_primitive::<Float64Type>();
                        for i in 0..values.len() {
                            if values.is_valid(i) {
                                x[[offset + i, j]] = values.value(i);
                            }
                        }
                        j += 1;
                    }
                    Input::OneHot {
                        column: name,
                        categories,
                    } => {
                        let cast = arrow::compute::cast(column(batch, name)?, &DataType::Utf8)
                            .map_err(|e| data_err(format!("feature column `{name}`: {e}")))?;
                        let values = cast.as_string::<i32>();
                        for i in 0..values.len() {
                            let hit = values
                                .is_valid(i)
                                .then(|| {
                                    categories
                                        .binary_search_by(|c| c.as_str().cmp(values.value(i)))
                                        .ok()
                                })
                                .flatten();
                            for k in 0..categories.len() {
                                x[[offset + i, j + k]] = if hit == Some(k) { 1.0 } else { 0.0 };
                            }
                        }
                        j += categories.len();
                    }
                }
            }
            offset += batch.num_rows();
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(stage: Vec<Option<&str>>, x: Vec<Option<f64>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("stage", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(stage)),
                Arc::new(Float64Array::from(x)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn strings_are_one_hot_over_training_categories_and_unseen_ones_are_all_zero() {
        let train = batch(
            vec![
                Some("returning"),
                Some("first_time"),
                None,
                Some("returning"),
            ],
            vec![Some(1.0), None, Some(3.0), Some(4.0)],
        );
        let features = vec!["x".to_owned(), "stage".to_owned()];
        let e = Encoding::learn(std::slice::from_ref(&train), &features).unwrap();
        assert_eq!(
            e.columns(),
            vec!["x", "stage=first_time", "stage=returning"]
        );
        let m = e.matrix(std::slice::from_ref(&train)).unwrap();
        assert_eq!(m.row(0).to_vec(), vec![1.0, 0.0, 1.0]);
        assert!(m[[1, 0]].is_nan(), "a missing number stays missing");
        assert_eq!(m.row(1).to_vec()[1..], [1.0, 0.0]);
        assert_eq!(m.row(2).to_vec()[1..], [0.0, 0.0], "null: no category");
        // At scoring, a category training never saw is not an error.
        let score = batch(vec![Some("ambassador")], vec![Some(2.0)]);
        let m = e.matrix(&[score]).unwrap();
        assert_eq!(m.row(0).to_vec(), vec![2.0, 0.0, 0.0]);
        // The encoding round-trips through JSON.
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), e);
    }

    #[test]
    fn an_identifier_is_not_a_category() {
        let ids: Vec<String> = (0..60).map(|i| format!("C{i}")).collect();
        let b = batch(
            ids.iter().map(|s| Some(s.as_str())).collect(),
            vec![Some(0.0); 60],
        );
        let err = Encoding::learn(&[b], &["stage".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 50 distinct values"), "{err}");
    }
}
