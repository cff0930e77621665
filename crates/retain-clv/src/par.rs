//! Deterministic data parallelism on scoped std threads (no thread pool dependency).
//!
//! Work is cut into fixed chunks of [`CHUNK`] rows whatever the number of threads, and the
//! per-chunk results are combined in chunk order, so a sum comes out bit-identical on one
//! core or sixteen.

use std::num::NonZero;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Rows per chunk.
pub(crate) const CHUNK: usize = 8192;

fn chunk(c: usize, n: usize) -> Range<usize> {
    c * CHUNK..((c + 1) * CHUNK).min(n)
}

/// Run `f` on every chunk of `0..n`, on all cores, and return the results in chunk order.
fn per_chunk<T: Send>(n: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let chunks = n.div_ceil(CHUNK);
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZero::get)
        .min(chunks);
    if threads <= 1 {
        return (0..chunks).map(|c| f(chunk(c, n))).collect();
    }
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..chunks).map(|_| None).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            return mine;
                        }
                        mine.push((c, f(chunk(c, n))));
                    }
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(done) => {
                    for (c, v) in done {
                        out[c] = Some(v);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    out.into_iter().flatten().collect()
}

/// Σ over `0..n` of K quantities, `f` giving one chunk's sums.
pub(crate) fn sum<const K: usize>(
    n: usize,
    f: impl Fn(Range<usize>) -> [f64; K] + Sync,
) -> [f64; K] {
    let mut total = [0.0; K];
    for part in per_chunk(n, f) {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total
}

/// `f(i)` for every i in `0..n`, in order; the first error wins.
pub(crate) fn map<T: Send, E: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let parts = per_chunk(n, |range| range.map(&f).collect::<Result<Vec<T>, E>>());
    let mut out = Vec::with_capacity(n);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_results_keep_their_order() {
        let n = 3 * super::CHUNK + 17;
        let v = super::map(n, Ok::<_, ()>).unwrap();
        assert_eq!(v, (0..n).collect::<Vec<_>>());
        let [s] = super::sum(n, |r| [r.map(|i| i as f64).sum()]);
        assert_eq!(s, (n * (n - 1) / 2) as f64);
    }
}
