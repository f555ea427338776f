//! Qwen2 (the bundled model's architecture) over candle's quantized kernels, with its key/value
//! cache kept apart from its weights.
//!
//! candle-transformers' `quantized_qwen2::ModelWeights` keeps one cache inside the weights and
//! cannot be cloned, so a process could hold one conversation's cache at a time and would compute
//! the shared system message again for every conversation it switched to. Here the weights are
//! loaded once ([`Qwen2`], read-only, shared by every step) and each sequence's cache is a value
//! ([`KvCache`]): cloned in no time (its tensors are reference-counted), cut back to any prefix
//! (a view), extended by [`Qwen2::forward`]. The layers are candle's: `QMatMul` (tiled,
//! int8-repacked on x86; for one token, the fused shared-input matmul for q/k/v and gate/up),
//! `rms_norm`, `rope`; the attention is `attention.rs`'s.

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use std::sync::Arc;

use super::attention;

/// The model's shape, read from the GGUF file's `qwen2.*` metadata.
#[derive(Debug, Clone, Copy)]
pub struct Qwen2Config {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer: grouped-query attention).
    pub kv_heads: usize,
    /// Width of the hidden state.
    pub hidden: usize,
    /// The longest sequence the model was trained for.
    pub context_length: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// RoPE base frequency.
    pub rope_base: f32,
}

impl Qwen2Config {
    /// Reads the shape from `content`'s metadata.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Qwen2Config> {
        let get = |key: &str| {
            content
                .metadata
                .get(key)
                .ok_or_else(|| candle_core::Error::Msg(format!("the GGUF file has no {key}")))
        };
        Ok(Qwen2Config {
            heads: get("qwen2.attention.head_count")?.to_u32()? as usize,
            kv_heads: get("qwen2.attention.head_count_kv")?.to_u32()? as usize,
            hidden: get("qwen2.embedding_length")?.to_u32()? as usize,
            context_length: get("qwen2.context_length")?.to_u32()? as usize,
            layers: get("qwen2.block_count")?.to_u32()? as usize,
            rms_eps: get("qwen2.attention.layer_norm_rms_epsilon")?.to_f32()?,
            rope_base: get("qwen2.rope.freq_base")
                .and_then(|v| v.to_f32())
                .unwrap_or(10_000.0),
        })
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

/// A quantized weight matrix: the tensor (for fused matmuls) and its matmul.
#[derive(Debug, Clone)]
struct Weight {
    tensor: Arc<QTensor>,
    matmul: QMatMul,
}

impl Weight {
    fn new(tensor: QTensor) -> Result<Weight> {
        let tensor = Arc::new(tensor);
        Ok(Weight {
            matmul: QMatMul::from_arc(tensor.clone())?,
            tensor,
        })
    }

    fn load<R: std::io::Seek + std::io::Read>(
        content: &gguf_file::Content,
        reader: &mut R,
        name: &str,
        device: &Device,
    ) -> Result<Weight> {
        Weight::new(content.tensor(reader, name, device)?)
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.matmul.forward(xs)
    }

    /// `xs` times each of `weights`: for one token, sharing one quantization of `xs` where
    /// candle's fused kernel takes them (same type, x86 with AVX512-VNNI); one (tiled) matmul
    /// each otherwise.
    fn forward_all(weights: &[&Weight], xs: &Tensor) -> Result<Vec<Tensor>> {
        let tensors: Vec<&QTensor> = weights.iter().map(|w| w.tensor.as_ref()).collect();
        let one_token = xs.elem_count() == xs.dim(candle_core::D::Minus1)?;
        if one_token
            && matches!(&weights[0].matmul, QMatMul::QTensor(_))
            && let Some(out) = QTensor::gemv_fused_shared_lhs(&tensors, xs)?
        {
            return Ok(out);
        }
        weights.iter().map(|w| w.forward(xs)).collect()
    }
}

/// One transformer block's weights.
#[derive(Debug, Clone)]
struct Block {
    attn_norm: Tensor,
    q: Weight,
    k: Weight,
    v: Weight,
    q_bias: Tensor,
    k_bias: Tensor,
    v_bias: Tensor,
    out: Weight,
    ffn_norm: Tensor,
    gate: Weight,
    up: Weight,
    down: Weight,
}

/// The model's weights, loaded once and shared by every sequence.
#[derive(Debug)]
pub struct Qwen2 {
    config: Qwen2Config,
    /// Token embeddings, dequantized to f16 (half the memory of f32; rows are widened as read).
    embeddings: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Weight,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

/// One sequence's keys and values, per block: `(1, kv_heads, len, head_dim)` each.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    blocks: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl KvCache {
    /// Tokens the cache holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `len` tokens (a view: nothing is copied).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        if len == 0 {
            *self = KvCache::default();
            return Ok(());
        }
        for (k, v) in &mut self.blocks {
            *k = k.narrow(2, 0, len)?;
            *v = v.narrow(2, 0, len)?;
        }
        self.len = len;
        Ok(())
    }

    /// Bytes its tensors hold (a view counts as its length).
    pub fn bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * k.dtype().size_in_bytes())
            .sum()
    }
}

impl Qwen2 {
    /// Loads the weights of a Qwen2 GGUF file whose header is `content`.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Qwen2> {
        let config = Qwen2Config::from_gguf(content)?;
        let dense = |reader: &mut R, name: &str| -> Result<Tensor> {
            content.tensor(reader, name, device)?.dequantize(device)
        };
        let embedding_q = content.tensor(reader, "token_embd.weight", device)?;
        let embeddings = embedding_q.dequantize_f16(device)?;
        let output = if content.tensor_infos.contains_key("output.weight") {
            Weight::load(content, reader, "output.weight", device)?
        } else {
            // Tied embeddings: the output projection is the embedding matrix, kept quantized.
            Weight::new(embedding_q)?
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}");
            let weight =
                |reader: &mut R, part: &str| Weight::load(content, reader, &name(part), device);
            blocks.push(Block {
                attn_norm: dense(reader, &name("attn_norm.weight"))?,
                q: weight(reader, "attn_q.weight")?,
                k: weight(reader, "attn_k.weight")?,
                v: weight(reader, "attn_v.weight")?,
                q_bias: dense(reader, &name("attn_q.bias"))?,
                k_bias: dense(reader, &name("attn_k.bias"))?,
                v_bias: dense(reader, &name("attn_v.bias"))?,
                out: weight(reader, "attn_output.weight")?,
                ffn_norm: dense(reader, &name("ffn_norm.weight"))?,
                gate: weight(reader, "ffn_gate.weight")?,
                up: weight(reader, "ffn_up.weight")?,
                down: weight(reader, "ffn_down.weight")?,
            });
        }
        let norm = dense(reader, "output_norm.weight")?;
        let (cos, sin) = rotary_tables(&config, device)?;
        Ok(Qwen2 {
            config,
            embeddings,
            blocks,
            norm,
            output,
            cos,
            sin,
            device: device.clone(),
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &Qwen2Config {
        &self.config
    }

    /// Runs `tokens` after what `cache` holds, appends their keys and values to it, and returns
    /// the logits (`vocab` floats) of the next token after the last of them.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let seq = tokens.len();
        let start = cache.len;
        if seq == 0 {
            candle_core::bail!("no tokens to run");
        }
        if start + seq > self.config.context_length {
            candle_core::bail!(
                "{} tokens exceed the model's context of {}",
                start + seq,
                self.config.context_length
            );
        }
        let (heads, kv_heads, head_dim) = (
            self.config.heads,
            self.config.kv_heads,
            self.config.head_dim(),
        );
        let group = heads / kv_heads;
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self
            .embeddings
            .index_select(&ids, 0)?
            .to_dtype(DType::F32)?
            .unsqueeze(0)?;
        let cos = self.cos.narrow(0, start, seq)?;
        let sin = self.sin.narrow(0, start, seq)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let first = cache.blocks.is_empty();
        for (i, block) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.config.rms_eps)?;
            let qkv = Weight::forward_all(&[&block.q, &block.k, &block.v], &h)?;
            // (1, n, seq, head_dim): each head's tokens, rotated in that layout.
            let heads_of = |t: &Tensor, bias: &Tensor, n: usize| -> Result<Tensor> {
                t.broadcast_add(bias)?
                    .reshape((1, seq, n, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let rotated = |t: Tensor| candle_nn::rotary_emb::rope(&t, &cos, &sin);
            // Queries as (1, kv_heads, seq·group, head_dim): the query heads that read one
            // key/value head, each position's side by side, scaled here rather than their scores.
            let q = rotated(heads_of(&qkv[0], &block.q_bias, heads)?)?
                .affine(scale, 0.0)?
                .reshape((1, kv_heads, group, seq, head_dim))?
                .transpose(2, 3)?
                .contiguous()?
                .reshape((1, kv_heads, seq * group, head_dim))?;
            let k = rotated(heads_of(&qkv[1], &block.k_bias, kv_heads)?)?;
            let v = heads_of(&qkv[2], &block.v_bias, kv_heads)?;
            let (k, v) = if first {
                (k, v)
            } else {
                let (old_k, old_v) = &cache.blocks[i];
                (Tensor::cat(&[old_k, &k], 2)?, Tensor::cat(&[old_v, &v], 2)?)
            };
            let attended = attention::attend(&q, &k, &v, group, start)?
                .reshape((1, kv_heads, seq, group, head_dim))?
                .transpose(1, 2)?
                .reshape((1, seq, heads * head_dim))?;
            x = (x + block.out.forward(&attended)?)?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, self.config.rms_eps)?;
            let gate_up = Weight::forward_all(&[&block.gate, &block.up], &h)?;
            let mlp = (candle_nn::ops::silu(&gate_up[0])? * &gate_up[1])?;
            x = (x + block.down.forward(&mlp)?)?;
            if first {
                cache.blocks.push((k, v));
            } else {
                cache.blocks[i] = (k, v);
            }
        }
        cache.len = start + seq;
        let last = x.i((.., seq - 1, ..))?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, self.config.rms_eps)?;
        self.output.forward(&last)?.squeeze(0)?.to_dtype(DType::F32)
    }
}

/// RoPE's cosine and sine tables, `(context_length, head_dim / 2)` each.
fn rotary_tables(config: &Qwen2Config, device: &Device) -> Result<(Tensor, Tensor)> {
    let head_dim = config.head_dim();
    let inverse: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / config.rope_base.powf(i as f32 / head_dim as f32))
        .collect();
    let inverse = Tensor::new(inverse.as_slice(), device)?.unsqueeze(0)?;
    let positions = Tensor::arange(0u32, config.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .unsqueeze(1)?;
    let angles = positions.matmul(&inverse)?;
    Ok((angles.cos()?, angles.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_cut_back_keeps_its_first_tokens() {
        let k = Tensor::arange(0f32, 8.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 4, 2))
            .unwrap();
        let mut cache = KvCache {
            blocks: vec![(k.clone(), k)],
            len: 4,
        };
        let copy = cache.clone();
        cache.truncate(3).unwrap();
        assert_eq!(cache.len(), 3);
        let kept: Vec<Vec<f32>> = cache.blocks[0]
            .0
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(kept, vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0, 5.0]]);
        assert_eq!(copy.len(), 4, "a clone is cut apart from its source");
        cache.truncate(0).unwrap();
        assert!(cache.is_empty());
    }
}
