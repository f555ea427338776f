//! clerk's own CPU kernels: the loops of the in-process model that candle has no op for.
//!
//! They live in a crate of their own so that they are compiled optimised in every profile
//! (`[profile.dev.package.clerk-kernels]` in the root `Cargo.toml`): the demo, the evals and the
//! tests run clerk's dev build, where a loop in clerk itself would run unoptimised over every
//! attention score. What calls them, and the tests that hold them to a plain computation, are in
//! clerk (`src/llm/candle/attention.rs`).

use candle_core::{CpuStorage, InplaceOp1, Layout, Result};
use std::sync::Mutex;

/// Softmax along the last dimension of a matrix of attention scores, in place, over the keys
/// each row's query may see: row `r` of every matrix belongs to the query at position
/// `first + r / group`, which sees the keys up to and including its own position; the keys after
/// it get weight 0. Rows are shared among candle's own worker threads.
#[derive(Debug, Clone, Copy)]
pub struct CausalSoftmax {
    /// Rows per position (the query heads that read one key/value head).
    pub group: usize,
    /// The position of the matrix's first row.
    pub first: usize,
}

impl CausalSoftmax {
    /// Keys that row `row` of its matrix sees.
    fn seen(&self, row: usize) -> usize {
        self.first + row / self.group + 1
    }
}

/// Rows of scores, each with its index in its matrix.
type Rows<'a> = Vec<(usize, &'a mut [f32])>;

impl InplaceOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("causal softmax takes f32 scores");
        };
        let Some((from, to)) = layout.contiguous_offsets() else {
            candle_core::bail!("causal softmax takes contiguous scores");
        };
        let dims = layout.dims();
        let (keys, matrix_rows) = match dims {
            [.., rows, keys] if *keys > 0 && *rows > 0 => (*keys, *rows),
            _ => candle_core::bail!("causal softmax takes a matrix of scores, got {dims:?}"),
        };
        let rows: Rows = data[from..to]
            .chunks_mut(keys)
            .enumerate()
            .map(|(index, row)| (index % matrix_rows, row))
            .collect();
        let pool = candle_core::utils::barrier_pool();
        let threads = pool.n_workers() + 1;
        let share = rows.len().div_ceil(threads);
        // One part per thread, each taken by its thread alone (the lock is never contended).
        let mut parts: Vec<Mutex<Rows>> = Vec::with_capacity(threads);
        let mut rows = rows.into_iter();
        for _ in 0..threads {
            parts.push(Mutex::new(rows.by_ref().take(share).collect()));
        }
        pool.execute(|thread| {
            let Some(part) = parts.get(thread) else {
                return;
            };
            let mut part = part.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (row, scores) in part.iter_mut() {
                softmax_prefix(scores, self.seen(*row));
            }
        });
        Ok(())
    }
}

/// Lanes the reductions below keep apart (AVX-512's sixteen f32s): summed in one order, a row's
/// floats could not be split over vector registers.
const LANES: usize = 16;

/// Softmax of `scores[..seen]` in place; the rest set to 0.
pub fn softmax_prefix(scores: &mut [f32], seen: usize) {
    let seen = seen.min(scores.len());
    let (kept, hidden) = scores.split_at_mut(seen);
    hidden.fill(0.0);
    let max = lanes(kept, f32::NEG_INFINITY, f32::max)
        .into_iter()
        .fold(f32::NEG_INFINITY, f32::max);
    for score in kept.iter_mut() {
        *score = exp(*score - max);
    }
    let scale = 1.0 / lanes(kept, 0.0, |sum, x| sum + x).iter().sum::<f32>();
    for score in kept {
        *score *= scale;
    }
}

/// `values` folded by `f` into [`LANES`] partial results, value `i` into lane `i % LANES`.
#[inline]
fn lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> [f32; LANES] {
    let mut acc = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in acc.iter_mut().zip(chunk) {
            *lane = f(*lane, value);
        }
    }
    for (lane, &value) in acc.iter_mut().zip(rest) {
        *lane = f(*lane, value);
    }
    acc
}

/// e^x for f32, within a relative 3·10⁻⁷ of the exact value over the range softmax uses
/// (x ≤ 0, down to -87, where e^x leaves f32's normal numbers; clamped there). Written without
/// branches or calls, so that the compiler runs it over a whole row in vector registers where the
/// C library's `expf` takes one value a call: Cody–Waite range reduction to x = n·ln 2 + r with
/// |r| ≤ ln 2 / 2, a degree-6 Taylor polynomial for e^r, and 2^n put in the exponent bits.
#[inline]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.3, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
