//! String functions whose output is bounded before they run.
//!
//! DataFusion's memory pool accounts for the buffers of operators (sorts, joins,
//! aggregations), not for the arrays a scalar function returns. A feature SQL of
//! `length(repeat(customer_id, 100000000))` made `repeat` ask the allocator for 8.9 TB
//! for one batch and the process aborted (issue 20, finding 6): no error, no run record.
//! `lpad` and `rpad` to a huge length did the same. The functions here replace
//! DataFusion's `repeat`, `lpad`, `rpad`, `replace` and `regexp_replace` by wrappers that
//! compute, from the arguments of a call, an upper bound of the bytes it returns and
//! refuse the call with an error when the bound passes the engine's memory limit; below
//! it they run DataFusion's own function unchanged. Written by hand: DataFusion has no
//! limit on what one expression allocates. Functions whose output is at most the size of
//! their inputs (`concat`, `substr`, `upper`, ...) need none.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

/// How a function's output grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: `len(text) × n` bytes.
    Repeat,
    /// `lpad(text, n [, fill])`, `rpad`: `n` characters, at most 4 bytes each.
    Pad,
    /// `replace(text, from, to)`: every match of `from` becomes `to`.
    Replace,
    /// `regexp_replace(text, pattern, to [, flags])`: every match (at most one per
    /// position, empty matches included) becomes `to`, each group reference in `to`
    /// (`\1`, `${name}`) at most the whole text.
    RegexpReplace,
}

/// The wrapped functions, refusing a call past `limit` bytes of output.
pub fn all(limit: usize) -> Vec<ScalarUDF> {
    use datafusion::functions::{regex, string, unicode};
    [
        (string::repeat(), Growth::Repeat),
        (unicode::lpad(), Growth::Pad),
        (unicode::rpad(), Growth::Pad),
        (string::replace(), Growth::Replace),
        (regex::regexp_replace(), Growth::RegexpReplace),
    ]
    .into_iter()
    .map(|(inner, growth)| {
        ScalarUDF::new_from_impl(Bounded {
            inner: inner.as_ref().clone(),
            growth,
            limit,
        })
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    growth: Growth,
    limit: usize,
}

/// One argument's numbers: a scalar's once, an array's per row. A scalar is not
/// expanded to the batch to be measured: a long literal times the batch's rows is the
/// kind of allocation this module exists to refuse.
enum PerRow {
    One(u128),
    Each(Vec<u128>),
}

impl PerRow {
    fn at(&self, i: usize) -> u128 {
        match self {
            PerRow::One(v) => *v,
            PerRow::Each(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    /// `f` applied to the argument's values (a scalar as one value), nulls as 0.
    fn of(arg: &ColumnarValue, f: impl Fn(&ArrayRef) -> Result<Vec<u128>>) -> Result<Self> {
        Ok(match arg {
            ColumnarValue::Scalar(s) => {
                PerRow::One(f(&s.to_array_of_size(1)?)?.first().copied().unwrap_or(0))
            }
            ColumnarValue::Array(a) => PerRow::Each(f(a)?),
        })
    }
}

/// Byte length of each value of a text argument.
fn byte_lengths(a: &ArrayRef) -> Result<Vec<u128>> {
    counts(&length(a)?)
}

/// Each value of an integer argument, negatives as 0.
fn counts(a: &ArrayRef) -> Result<Vec<u128>> {
    let n = cast(a, &DataType::Int64)?;
    Ok(n.as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.unwrap_or(0).max(0) as u128)
        .collect())
}

/// Group references a `regexp_replace` replacement can hold: every `\` or `$` may start
/// one.
fn references(a: &ArrayRef) -> Result<Vec<u128>> {
    let text = cast(a, &DataType::Utf8)?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| {
            v.map_or(0, |s| {
                s.bytes().filter(|b| matches!(b, b'\\' | b'$')).count()
            }) as u128
        })
        .collect())
}

impl Bounded {
    /// An upper bound of the bytes the call returns over its `rows` rows (a call of
    /// scalars only is counted for every row too: its value is repeated down the batch).
    fn bound(&self, args: &[ColumnarValue], rows: usize) -> Result<u128> {
        let per_row: Box<dyn Fn(usize) -> u128> = match (self.growth, args) {
            (Growth::Repeat, [text, n, ..]) => {
                let (len, n) = (PerRow::of(text, byte_lengths)?, PerRow::of(n, counts)?);
                Box::new(move |i| len.at(i) * n.at(i))
            }
            (Growth::Pad, [_, n, ..]) => {
                let n = PerRow::of(n, counts)?;
                Box::new(move |i| 4 * n.at(i))
            }
            (Growth::Replace, [text, from, to, ..]) => {
                let len = PerRow::of(text, byte_lengths)?;
                let from = PerRow::of(from, byte_lengths)?;
                let to = PerRow::of(to, byte_lengths)?;
                Box::new(move |i| {
                    let l = len.at(i);
                    let matches = match from.at(i) {
                        0 => l + 1,
                        f => l / f,
                    };
                    l + matches * to.at(i)
                })
            }
            (Growth::RegexpReplace, [text, _, to, ..]) => {
                let len = PerRow::of(text, byte_lengths)?;
                let to_len = PerRow::of(to, byte_lengths)?;
                let refs = PerRow::of(to, references)?;
                // Matches do not overlap, so one group reference summed over all the
                // matches is at most the text: the text, plus the replacement's own
                // bytes once per match (at most one per position), plus the text once
                // per reference.
                Box::new(move |i| {
                    let l = len.at(i);
                    l + (l + 1) * to_len.at(i) + refs.at(i) * l
                })
            }
            _ => return exec_err!("{} got {} arguments", self.inner.name(), args.len()),
        };
        Ok((0..rows).map(per_row).sum())
    }
}

/// Every method but `invoke_with_args` is the inner function's.
impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.inner().aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.inner().signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }
    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bound = self.bound(&args.args, args.number_rows)?;
        if bound > self.limit as u128 {
            return exec_err!(
                "{}() would build up to {} bytes for {} rows, more than the engine's memory limit of {} bytes: check its arguments (a repeat count or a pad length that large is a mistake)",
                self.inner.name(),
                bound,
                args.number_rows,
                self.limit
            );
        }
        self.inner.invoke_with_args(args)
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.inner().simplify(args, info)
    }
    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }
    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.inner().evaluate_bounds(input)
    }
    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.inner().propagate_constraints(interval, inputs)
    }
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.inner().output_ordering(inputs)
    }
    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().preserves_lex_ordering(inputs)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }
}
