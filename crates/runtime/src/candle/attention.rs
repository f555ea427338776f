//! Grouped-query causal attention of a pass's new tokens over everything their sequence holds.
//!
//! The queries come in blocks of [`QUERY_BLOCK`] positions. Each block's scores are one matmul
//! against only the keys its last position may see (the block's causal triangle is all that is
//! masked), then one in-place pass ([`CausalSoftmax`]) masks and normalises them on candle's own
//! worker threads, and one matmul reads the values. Computed whole, a pass of 256 tokens after
//! 2,600 cached ones held a 35 MB score matrix per layer and walked it four times (scale, mask,
//! softmax, its copy); above glibc's 32 MB mmap ceiling each of those buffers came fresh from the
//! kernel, zeroed page by page. In blocks it is one 9 MB matrix, walked once, reused by the
//! allocator.

use candle_core::{Result, Tensor};
use clerk_kernels::CausalSoftmax;

/// Query positions whose scores are computed at a time.
const QUERY_BLOCK: usize = 64;

/// Attention of the queries `q`, `(1, kv_heads, positions · group, head_dim)` with the rows of
/// each position's `group` query heads side by side and already scaled by 1/√head_dim, over
/// `k` and `v`, `(1, kv_heads, start + positions, head_dim)`, the last `positions` of which are
/// the queries' own. Returns `(1, kv_heads, positions · group, head_dim)`, rows as in `q`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, group: usize, start: usize) -> Result<Tensor> {
    let rows = q.dim(2)?;
    let positions = rows / group;
    let mut blocks = Vec::with_capacity(positions.div_ceil(QUERY_BLOCK));
    for first in (0..positions).step_by(QUERY_BLOCK) {
        let end = (first + QUERY_BLOCK).min(positions);
        let keys = start + end;
        let scores = q
            .narrow(2, first * group, (end - first) * group)?
            .matmul(&k.narrow(2, 0, keys)?.t()?)?;
        // One position (a token being written) sees every key: a plain softmax.
        let weights = if positions == 1 {
            candle_nn::ops::softmax_last_dim(&scores)?
        } else {
            scores.inplace_op1(&CausalSoftmax {
                group,
                first: start + first,
            })?;
            scores
        };
        blocks.push(weights.matmul(&v.narrow(2, 0, keys)?)?);
    }
    if blocks.len() == 1 {
        Ok(blocks.remove(0))
    } else {
        Tensor::cat(&blocks, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device};

    /// The attention written out whole: scores, an additive causal mask, softmax, values.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, group: usize, start: usize) -> Tensor {
        let rows = q.dim(2).unwrap();
        let total = k.dim(2).unwrap();
        let mask: Vec<f32> = (0..rows)
            .flat_map(|r| {
                (0..total).map(move |j| {
                    if j > start + r / group {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (rows, total), &Device::Cpu).unwrap();
        let scores = q
            .matmul(&k.t().unwrap())
            .unwrap()
            .broadcast_add(&mask)
            .unwrap();
        candle_nn::ops::softmax(&scores, D::Minus1)
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    #[test]
    fn blocks_of_queries_attend_as_the_whole_computation_does() {
        let (kv_heads, group, dim) = (2, 3, 8);
        for (start, positions) in [(0, 1), (0, 5), (7, 1), (5, 150), (0, 130)] {
            let total = start + positions;
            let q = Tensor::randn(
                0f32,
                1.0,
                (1, kv_heads, positions * group, dim),
                &Device::Cpu,
            )
            .unwrap();
            let k = Tensor::randn(0f32, 1.0, (1, kv_heads, total, dim), &Device::Cpu).unwrap();
            let v = Tensor::randn(0f32, 1.0, (1, kv_heads, total, dim), &Device::Cpu).unwrap();
            let ours = attend(&q, &k, &v, group, start).unwrap();
            let theirs = reference(&q, &k, &v, group, start);
            let gap = (ours - theirs)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(gap < 1e-5, "start {start}, {positions} positions: {gap}");
        }
    }

    #[test]
    fn a_query_gives_no_weight_to_the_keys_after_it() {
        let mut scores = vec![1.0, 2.0, 3.0, 100.0];
        clerk_kernels::softmax_prefix(&mut scores, 3);
        assert_eq!(scores[3], 0.0);
        let sum: f32 = scores.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(scores[2] > scores[1] && scores[1] > scores[0]);
    }

    #[test]
    fn the_kernels_exp_is_the_exponential() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 87.0 * i as f32 / 200_000.0;
            let exact = (x as f64).exp();
            let error = ((clerk_kernels::exp(x) as f64 - exact) / exact).abs();
            worst = worst.max(error);
        }
        assert!(worst < 3e-7, "largest relative error {worst:e}");
        assert_eq!(clerk_kernels::exp(0.0), 1.0);
        assert_eq!(clerk_kernels::exp(-1000.0), clerk_kernels::exp(-87.3));
    }
}
