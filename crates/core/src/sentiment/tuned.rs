//! The tuned reader: all-MiniLM-L6-v2's top layers fine-tuned on star-rated reviews, with a
//! three-class head on the mean of their states. The layers below stay as they are (the
//! [`Embedder`] runs them, [`Embedder::lower_states`]); only the top [`TOP_LAYERS`] and the head
//! learn, from the pretrained weights, with AdamW and class-weighted cross-entropy. A bag of words
//! cannot tell "I wanted to love this" from "I love this"; the encoder's attention can, and that
//! is what lifts the reviews' macro-F1 past TF-IDF's (`clerk bench sentiment`).
//!
//! Training runs on candle's CPU backend with its autograd: the layers are written here over
//! candle-nn's parts (candle-transformers' BERT layer hides its `forward` and uses a fused layer
//! norm without a gradient). The learned weights are a safetensors file under the data
//! directory ([`TUNED_FILE`]); the layers below are read from the embedding model each time.

use super::train::{Example, Params, best_offsets, macro_f1, splitmix64, stratified_split};
use super::{Label, Sentiment, SentimentModel};
use crate::embed::{DIM, EmbedError, Embedder, SharedEmbedder, TOP_LAYERS, attention_bias};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the tuned layers and head are saved, under the data directory.
pub const TUNED_FILE: &str = "models/sentiment-tuned.safetensors";

/// Attention heads of a layer (all-MiniLM-L6-v2's).
const HEADS: usize = 12;
/// The layer norms' epsilon (the model's configuration).
const NORM_EPS: f64 = 1e-12;

/// Why the tuned reader could not be trained, saved, loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum TunedError {
    /// The embedding model failed (or is missing).
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// candle failed.
    #[error("tuned sentiment reader: {0}")]
    Model(#[from] candle_core::Error),
    /// The saved file could not be written.
    #[error("tuned sentiment reader {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The combination's file could not be saved or read, or is of another version.
    #[error(transparent)]
    Saved(#[from] crate::saved::SavedError),
    /// The TF-IDF model beside the encoder could not be trained.
    #[error(transparent)]
    Words(#[from] super::SentimentError),
    /// Too few examples to train on.
    #[error("cannot tune the sentiment reader: {0}")]
    Data(String),
}

/// How the reader is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunedParams {
    /// Passes over the examples.
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// The top layers' peak learning rate.
    pub layers_lr: f64,
    /// The head's peak learning rate.
    pub head_lr: f64,
    /// The share of steps the learning rates warm up over (then they fall linearly to zero).
    pub warmup: f64,
    /// Order of the examples.
    pub seed: u64,
}

impl Default for TunedParams {
    fn default() -> Self {
        TunedParams {
            epochs: 2,
            batch: 16,
            layers_lr: 8e-5,
            head_lr: 1e-3,
            warmup: 0.06,
            seed: 42,
        }
    }
}

/// A layer norm whose gradient candle can take.
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn load(vb: VarBuilder) -> candle_core::Result<Norm> {
        Ok(Norm {
            weight: vb.get_with_hints(DIM, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(DIM, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(variance + NORM_EPS)?.sqrt()?)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// One BERT layer: self-attention, then the feed-forward block, each with a residual and a norm.
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    out: Linear,
    out_norm: Norm,
}

impl Layer {
    /// The layer under `vb`'s prefix, named as in the model file (`attention.self.query`, …).
    fn load(vb: VarBuilder) -> candle_core::Result<Layer> {
        let wide = 4 * DIM;
        let attention = vb.pp("attention");
        Ok(Layer {
            query: candle_nn::linear(DIM, DIM, attention.pp("self").pp("query"))?,
            key: candle_nn::linear(DIM, DIM, attention.pp("self").pp("key"))?,
            value: candle_nn::linear(DIM, DIM, attention.pp("self").pp("value"))?,
            attention_out: candle_nn::linear(DIM, DIM, attention.pp("output").pp("dense"))?,
            attention_norm: Norm::load(attention.pp("output").pp("LayerNorm"))?,
            intermediate: candle_nn::linear(DIM, wide, vb.pp("intermediate").pp("dense"))?,
            out: candle_nn::linear(wide, DIM, vb.pp("output").pp("dense"))?,
            out_norm: Norm::load(vb.pp("output").pp("LayerNorm"))?,
        })
    }

    /// `x`: `(batch, tokens, DIM)`; `bias`: [`attention_bias`] of the batch's mask.
    fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens, _) = x.dims3()?;
        let head = DIM / HEADS;
        let split = |t: Tensor| {
            t.reshape((batch, tokens, HEADS, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch, tokens, DIM))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + x)?)?;
        let wide = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.out_norm
            .forward(&(self.out.forward(&wide)? + attended)?)
    }
}

/// The fine-tuned top layers and the head.
pub struct TunedReader {
    layers: Vec<Layer>,
    head: Linear,
    /// The layers' and head's weights, by their names in the saved file.
    vars: VarMap,
}

impl std::fmt::Debug for TunedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedReader")
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// What training did, for the progress line and the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TuneProgress {
    /// Training the TF-IDF model beside the encoder.
    Words,
    /// Reading every example with the tuned encoder, to keep the readings.
    Keeping,
    /// Texts run through the layers below: done, of.
    Reading(usize, usize),
    /// Steps taken: done, of, and the mean loss of the last hundred.
    Step(usize, usize, f32),
}

/// The text a review is read as: its title, a full stop, then its text.
pub fn review_text(title: &str, text: &str) -> String {
    if title.trim().is_empty() {
        text.to_owned()
    } else {
        format!("{}. {text}", title.trim())
    }
}

impl TunedReader {
    /// New layers (random weights until set) and head. The layers are named as the embedding
    /// model's top ones (`encoder.layer.{i}.…`), the head `classifier`.
    fn fresh(lower_layers: usize) -> candle_core::Result<(TunedReader, Device)> {
        let device = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
        let layers = (0..TOP_LAYERS)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{}", lower_layers + i))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        // The head starts at zero (every class equally likely), so that training is the same
        // on every run.
        let head = vb.pp("classifier");
        let head = Linear::new(
            head.get_with_hints((3, DIM), "weight", candle_nn::Init::Const(0.0))?,
            Some(head.get_with_hints(3, "bias", candle_nn::Init::Const(0.0))?),
        );
        Ok((TunedReader { layers, head, vars }, device))
    }

    /// Log-probabilities `(batch, 3)` of a padded batch of lower states and its mask.
    fn forward(&self, states: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let bias = attention_bias(mask)?;
        let mut x = states.clone();
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let mean = x
            .broadcast_mul(&weights)?
            .sum(1)?
            .broadcast_div(&weights.sum(1)?)?;
        candle_nn::ops::log_softmax(&self.head.forward(&mean)?, D::Minus1)
    }

    /// Fine-tunes the top layers and trains the head, starting from the embedding model's
    /// weights, on texts already run through the layers below ([`read_lower`]), each with its
    /// class.
    pub fn train_on(
        embedder: &Embedder,
        states: &[Tensor],
        labels: &[Label],
        params: TunedParams,
        progress: &dyn Fn(TuneProgress),
    ) -> Result<TunedReader, TunedError> {
        let mut by_class = [0usize; 3];
        for label in labels {
            by_class[label.index()] += 1;
        }
        if by_class.iter().any(|&n| n < 10) {
            return Err(TunedError::Data(format!(
                "at least 10 examples of each class are needed, there are {by_class:?}"
            )));
        }
        let (reader, device) = TunedReader::fresh(embedder.lower_layers())?;
        // Start the layers from the pretrained ones.
        // SAFETY: read-only map of the model file, which clerk never writes.
        let pretrained =
            unsafe { candle_core::safetensors::MmapedSafetensors::new(embedder.weights_file())? };
        let (mut layer_vars, mut head_vars) = (Vec::new(), Vec::new());
        {
            let data = reader.vars.data().lock().expect("the var map's lock");
            let mut names: Vec<&String> = data.keys().collect();
            names.sort();
            for name in names {
                let var = &data[name];
                if name.starts_with("classifier") {
                    head_vars.push(var.clone());
                } else {
                    var.set(&pretrained.load(name, &device)?)?;
                    layer_vars.push(var.clone());
                }
            }
        }

        let labels: Vec<u32> = labels.iter().map(|l| l.index() as u32).collect();
        // Class weights: the inverse square root of each class's share, averaging 1.
        let total = labels.len() as f64;
        let raw = by_class.map(|n| (total / n as f64).sqrt());
        let mean_raw = raw.iter().sum::<f64>() / 3.0;
        let class_weights = Tensor::new(&raw.map(|w| (w / mean_raw) as f32), &device)?;

        let steps_per_epoch = labels.len().div_ceil(params.batch);
        let steps = steps_per_epoch * params.epochs;
        let warmup = ((steps as f64 * params.warmup) as usize).max(1);
        let adamw = |vars: Vec<Var>, lr: f64| {
            AdamW::new(
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay: 0.01,
                    ..ParamsAdamW::default()
                },
            )
        };
        let mut layers_opt = adamw(layer_vars, params.layers_lr)?;
        let mut head_opt = adamw(head_vars, params.head_lr)?;
        let mut step = 0;
        let mut recent: Vec<f32> = Vec::new();
        for epoch in 0..params.epochs {
            for batch in batches(states, params.batch, params.seed ^ epoch as u64) {
                let scale = if step < warmup {
                    (step + 1) as f64 / warmup as f64
                } else {
                    (steps - step) as f64 / (steps - warmup).max(1) as f64
                };
                layers_opt.set_learning_rate(params.layers_lr * scale);
                head_opt.set_learning_rate(params.head_lr * scale);
                let (x, mask) = pad(states, &batch)?;
                let targets = Tensor::new(
                    batch.iter().map(|&i| labels[i]).collect::<Vec<u32>>(),
                    &device,
                )?;
                let log_p = reader.forward(&x, &mask)?;
                let picked = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
                let w = class_weights.index_select(&targets, 0)?;
                let loss =
                    ((picked * &w)?.sum_all()? / w.sum_all()?.to_scalar::<f32>()? as f64)?.neg()?;
                let grads = loss.backward()?;
                layers_opt.step(&grads)?;
                head_opt.step(&grads)?;
                recent.push(loss.to_scalar::<f32>()?);
                if recent.len() > 100 {
                    recent.remove(0);
                }
                step += 1;
                progress(TuneProgress::Step(
                    step,
                    steps,
                    recent.iter().sum::<f32>() / recent.len() as f32,
                ));
            }
        }
        Ok(reader)
    }

    /// The three classes' log-probabilities (negative, neutral, positive) of each text.
    pub fn log_probabilities(
        &self,
        embedder: &Embedder,
        texts: &[String],
    ) -> Result<Vec<[f32; 3]>, TunedError> {
        self.log_probabilities_of(&read_lower(embedder, texts, &|_| {})?)
    }

    /// As [`TunedReader::log_probabilities`], of texts already run through the layers below.
    pub fn log_probabilities_of(&self, states: &[Tensor]) -> Result<Vec<[f32; 3]>, TunedError> {
        let mut order: Vec<usize> = (0..states.len()).collect();
        order.sort_by_key(|&i| states[i].dim(0).unwrap_or(0));
        let mut out = vec![[0f32; 3]; states.len()];
        for chunk in order.chunks(32) {
            let (x, mask) = pad(states, chunk)?;
            let rows = self.forward(&x, &mask)?.to_vec2::<f32>()?;
            for (&i, row) in chunk.iter().zip(rows) {
                out[i] = [row[0], row[1], row[2]];
            }
        }
        Ok(out)
    }

    /// Saves the tuned layers and head as `path` (safetensors, written beside then renamed).
    pub fn save(&self, path: &Path) -> Result<(), TunedError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| TunedError::Io {
                path: parent.to_owned(),
                source: e,
            })?;
        }
        let partial = path.with_extension("safetensors.partial");
        self.vars.save(&partial)?;
        std::fs::rename(&partial, path).map_err(|source| TunedError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// The reader saved as `path`, for the embedding model `embedder`.
    pub fn load(embedder: &Embedder, path: &Path) -> Result<TunedReader, TunedError> {
        let (mut reader, _) = TunedReader::fresh(embedder.lower_layers())?;
        reader.vars.load(path)?;
        Ok(reader)
    }
}

/// Each text's states below the top layers, reporting progress every batch of 256.
pub fn read_lower(
    embedder: &Embedder,
    texts: &[String],
    progress: &dyn Fn(TuneProgress),
) -> Result<Vec<Tensor>, TunedError> {
    let mut states = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        states.extend(embedder.lower_states(&refs)?);
        progress(TuneProgress::Reading(states.len(), texts.len()));
    }
    Ok(states)
}

/// One epoch's batches: the examples shuffled, then, a few batches' worth at a time, sorted by
/// length so that a batch pads little; the batches themselves in shuffled order.
fn batches(states: &[Tensor], size: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    order.sort_by_key(|&i| splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for pool in order.chunks(size * 32) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| states[i].dim(0).unwrap_or(0));
        out.extend(pool.chunks(size).map(<[usize]>::to_vec));
    }
    out.sort_by_key(|b| splitmix64(seed.wrapping_add(b[0] as u64)));
    out
}

/// The states of `batch`, padded with zeros to the longest: `(batch, tokens, DIM)`, and the mask
/// `(batch, tokens)` of real tokens.
fn pad(states: &[Tensor], batch: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
    let longest = batch
        .iter()
        .map(|&i| states[i].dim(0))
        .collect::<candle_core::Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(1);
    let mut rows = Vec::with_capacity(batch.len());
    let mut mask = Vec::with_capacity(batch.len() * longest);
    for &i in batch {
        let n = states[i].dim(0)?;
        rows.push(states[i].pad_with_zeros(0, 0, longest - n)?);
        mask.extend((0..longest).map(|t| u32::from(t < n)));
    }
    let device = states[batch[0]].device();
    Ok((
        Tensor::stack(&rows, 0)?,
        Tensor::from_vec(mask, (batch.len(), longest), device)?,
    ))
}

/// The class of a review from the encoder's and the words' log-probabilities: their weighted
/// sum plus per-class offsets.
pub fn mix(encoder: &[f32; 3], words: &[f32; 3], weight: f32, offsets: [f32; 3]) -> Label {
    let sums = weighed(encoder, words, weight);
    let score = |c: usize| sums[c] + offsets[c];
    Label::ALL[(0..3)
        .max_by(|&a, &b| score(a).total_cmp(&score(b)))
        .expect("three")]
}

/// The encoder's weight (or `fixed`) and the per-class offsets that give the best macro-F1 on
/// `truth`, and that macro-F1. The weight is searched in tenths, the offsets of the negative and
/// neutral classes from -1 to 3 in tenths (the positive class's stays 0).
pub fn combine(
    encoder: &[[f32; 3]],
    words: &[[f32; 3]],
    truth: &[usize],
    fixed: Option<f32>,
) -> (f32, [f32; 3], f64) {
    let weights: Vec<f32> = match fixed {
        Some(w) => vec![w],
        None => (0..=10).map(|i| i as f32 / 10.0).collect(),
    };
    let mut best = (0.0, [0.0; 3], -1.0);
    for weight in weights {
        let sums: Vec<[f32; 3]> = encoder
            .iter()
            .zip(words)
            .map(|(e, w)| weighed(e, w, weight))
            .collect();
        let (offsets, f1) = best_offsets(&sums, truth, -10..=30);
        if f1 > best.2 + 1e-9 {
            best = (weight, offsets, f1);
        }
    }
    best
}

/// The weighted sum of the encoder's and the words' log-probabilities.
fn weighed(encoder: &[f32; 3], words: &[f32; 3], weight: f32) -> [f32; 3] {
    std::array::from_fn(|c| weight * encoder[c] + (1.0 - weight) * words[c])
}

/// How a review reads from the encoder's and the words' log-probabilities: the class [`mix`]
/// gives, and the score of the softmax of the same sums.
pub fn mixed(encoder: &[f32; 3], words: &[f32; 3], weight: f32, offsets: [f32; 3]) -> Sentiment {
    let sums = weighed(encoder, words, weight);
    let p = super::softmax(std::array::from_fn(|c| sums[c] + offsets[c]));
    Sentiment {
        label: mix(encoder, words, weight, offsets),
        score: ((p[2] - p[0]) * 1000.0).round() / 1000.0,
    }
}

/// The words' model's log-probabilities of a review.
pub fn word_log_probabilities(words: &SentimentModel, title: &str, text: &str) -> [f32; 3] {
    words.probabilities(title, text).map(|p| p.max(1e-9).ln())
}

/// How the tuned encoder and a TF-IDF model are combined, saved as [`COMBINATION_FILE`] beside
/// the encoder's weights ([`TUNED_FILE`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Combination {
    format: u32,
    /// The encoder's share of the sum of log-probabilities (the words' is the rest).
    pub encoder_weight: f32,
    /// Added to each class's sum (negative, neutral, positive).
    pub offsets: [f32; 3],
    /// The TF-IDF model trained beside the encoder, on the same reviews.
    pub words: SentimentModel,
    /// What it was trained on and how it did.
    pub report: TunedReport,
    /// How each review it was tuned with reads, by [`crate::embed::text_key`] of its text (so
    /// that serving them needs no encoder run), when kept.
    #[serde(default)]
    readings: Vec<(u64, Sentiment)>,
}

/// What tuning saw and measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TunedReport {
    /// Where the reviews came from.
    pub source: String,
    /// Reviews the encoder and the TF-IDF model learned from, by class.
    pub examples: [usize; 3],
    /// Reviews the weight and offsets were chosen on (a fifth, held out from learning).
    pub tuning_reviews: usize,
    /// Passes over the reviews.
    pub epochs: usize,
    /// Macro-F1 of the combination on the tuning reviews.
    pub validation_macro_f1: f64,
    /// Macro-F1 of the TF-IDF model alone on them.
    pub words_validation_macro_f1: f64,
    /// Seconds it all took.
    pub seconds: f64,
}

/// The shape of [`Combination`]'s file; another must be trained again (2: the top four layers
/// tuned, where 1 had two).
const COMBINATION_FORMAT: u32 = 2;

/// Where the combination is saved, under the data directory.
pub const COMBINATION_FILE: &str = "models/sentiment-tuned.json";

/// A tuned encoder, the TF-IDF model beside it and their combination.
#[derive(Debug)]
pub struct Tuned {
    /// The encoder's top layers and head.
    pub reader: TunedReader,
    /// How it is combined with the words.
    pub combination: Combination,
}

/// Tunes the encoder on four fifths of `examples` (each class in proportion), trains clerk's
/// TF-IDF model on the same four fifths, and chooses their combination on the last fifth. With
/// `keep_readings`, how every example reads is kept with the combination.
pub fn tune(
    embedder: &Embedder,
    examples: &[Example],
    params: TunedParams,
    source: &str,
    keep_readings: bool,
    progress: &dyn Fn(TuneProgress),
) -> Result<Tuned, TunedError> {
    let started = std::time::Instant::now();
    let labels: Vec<usize> = examples.iter().map(|e| e.label.index()).collect();
    let (fit, held) = stratified_split(&labels, 0.2, 7);
    let fit_set: Vec<Example> = fit.iter().map(|&i| examples[i].clone()).collect();
    progress(TuneProgress::Words);
    let words = super::train::train(&fit_set, Params::default(), source)?;
    let texts: Vec<String> = examples
        .iter()
        .map(|e| review_text(&e.title, &e.text))
        .collect();
    let states = read_lower(embedder, &texts, progress)?;
    let pick = |ix: &[usize]| ix.iter().map(|&i| states[i].clone()).collect::<Vec<_>>();
    let fit_labels: Vec<Label> = fit_set.iter().map(|e| e.label).collect();
    let reader = TunedReader::train_on(embedder, &pick(&fit), &fit_labels, params, progress)?;
    let encoder = reader.log_probabilities_of(&pick(&held))?;
    let word_logs: Vec<[f32; 3]> = held
        .iter()
        .map(|&i| word_log_probabilities(&words, &examples[i].title, &examples[i].text))
        .collect();
    let truth: Vec<usize> = held.iter().map(|&i| labels[i]).collect();
    let (encoder_weight, offsets, f1) = combine(&encoder, &word_logs, &truth, None);
    let words_alone: Vec<usize> = held
        .iter()
        .map(|&i| {
            words
                .score(&examples[i].title, &examples[i].text)
                .label
                .index()
        })
        .collect();
    let mut by_class = [0usize; 3];
    for label in &fit_labels {
        by_class[label.index()] += 1;
    }
    let readings = if keep_readings {
        progress(TuneProgress::Keeping);
        let encoder = reader.log_probabilities_of(&states)?;
        examples
            .iter()
            .zip(&texts)
            .zip(&encoder)
            .map(|((example, text), e)| {
                let words = word_log_probabilities(&words, &example.title, &example.text);
                (
                    crate::embed::text_key(text),
                    mixed(e, &words, encoder_weight, offsets),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let round = |x: f64| (x * 1e4).round() / 1e4;
    Ok(Tuned {
        reader,
        combination: Combination {
            format: COMBINATION_FORMAT,
            encoder_weight,
            offsets,
            words,
            report: TunedReport {
                source: source.to_owned(),
                examples: by_class,
                tuning_reviews: held.len(),
                epochs: params.epochs,
                validation_macro_f1: round(f1),
                words_validation_macro_f1: round(macro_f1(&truth, &words_alone)),
                seconds: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            },
            readings,
        },
    })
}

/// Reviews read at most per call with the encoder when its reading is not cached; the rest are
/// read by the TF-IDF model alone (the encoder reads a review in tens of milliseconds on a CPU).
const LIVE_READS: usize = 64;

/// The tuned encoder as the store serves it: the readings of the reviews it was trained with,
/// kept by their text, and the encoder itself for reviews written since.
pub struct TunedSentiment {
    tuned: Tuned,
    embedder: SharedEmbedder,
    /// Readings by [`crate::embed::text_key`] of the review's text.
    readings: std::sync::Mutex<HashMap<u64, Sentiment>>,
}

impl std::fmt::Debug for TunedSentiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedSentiment")
            .field("report", &self.tuned.combination.report)
            .finish()
    }
}

impl TunedSentiment {
    /// Serves `tuned`, run on `embedder`, starting from the readings kept with it.
    pub fn new(mut tuned: Tuned, embedder: SharedEmbedder) -> TunedSentiment {
        let readings = std::mem::take(&mut tuned.combination.readings)
            .into_iter()
            .collect();
        TunedSentiment {
            tuned,
            embedder,
            readings: std::sync::Mutex::new(readings),
        }
    }

    /// What tuning measured.
    pub fn report(&self) -> &TunedReport {
        &self.tuned.combination.report
    }

    /// Saves the encoder's weights and the combination under `data_dir`.
    pub fn save(&self, data_dir: &Path) -> Result<(), TunedError> {
        self.tuned.reader.save(&data_dir.join(TUNED_FILE))?;
        let mut combination = self.tuned.combination.clone();
        combination.readings = self
            .readings
            .lock()
            .expect("the readings' lock")
            .iter()
            .map(|(&key, &sentiment)| (key, sentiment))
            .collect();
        combination.readings.sort_unstable_by_key(|&(key, _)| key);
        Ok(crate::saved::save(
            data_dir,
            COMBINATION_FILE,
            &combination,
        )?)
    }

    /// The tuned encoder saved under `data_dir`; `None` when none was tuned there.
    pub fn load(
        data_dir: &Path,
        embedder: SharedEmbedder,
    ) -> Result<Option<TunedSentiment>, TunedError> {
        let Some(mut combination) = crate::saved::load::<Combination>(data_dir, COMBINATION_FILE)?
        else {
            return Ok(None);
        };
        if combination.format != COMBINATION_FORMAT {
            return Err(crate::saved::SavedError::Format {
                path: data_dir.join(COMBINATION_FILE),
                reason: format!(
                    "format {} instead of {COMBINATION_FORMAT}",
                    combination.format
                ),
            }
            .into());
        }
        combination.words = combination.words.reindexed();
        let reader = TunedReader::load(&embedder, &data_dir.join(TUNED_FILE))?;
        Ok(Some(TunedSentiment::new(
            Tuned {
                reader,
                combination,
            },
            embedder,
        )))
    }

    /// How each review (title, text) reads. Readings are kept for the process's life; at most
    /// [`LIVE_READS`] new reviews a call go through the encoder, the others are read by the
    /// combination's TF-IDF model alone.
    pub fn read(&self, reviews: &[(&str, &str)]) -> Result<Vec<Sentiment>, TunedError> {
        let c = &self.tuned.combination;
        let texts: Vec<String> = reviews
            .iter()
            .map(|(title, text)| review_text(title, text))
            .collect();
        let keys: Vec<u64> = texts.iter().map(|t| crate::embed::text_key(t)).collect();
        let unread: Vec<usize> = {
            let readings = self.readings.lock().expect("the readings' lock");
            let mut seen = std::collections::HashSet::new();
            (0..texts.len())
                .filter(|&i| !readings.contains_key(&keys[i]) && seen.insert(keys[i]))
                .take(LIVE_READS)
                .collect()
        };
        if !unread.is_empty() {
            let batch: Vec<String> = unread.iter().map(|&i| texts[i].clone()).collect();
            let encoder = self
                .tuned
                .reader
                .log_probabilities(&self.embedder, &batch)?;
            let mut readings = self.readings.lock().expect("the readings' lock");
            for (&i, e) in unread.iter().zip(&encoder) {
                let (title, text) = reviews[i];
                let words = word_log_probabilities(&c.words, title, text);
                readings.insert(keys[i], mixed(e, &words, c.encoder_weight, c.offsets));
            }
        }
        let readings = self.readings.lock().expect("the readings' lock");
        Ok(reviews
            .iter()
            .zip(&keys)
            .map(|((title, text), key)| match readings.get(key) {
                Some(&sentiment) => sentiment,
                None => c.words.score(title, text),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_sees_every_example_once_in_batches_of_like_lengths() {
        let lengths = [3usize, 40, 7, 7, 12, 90, 5, 33, 61, 2, 18, 25, 8];
        let states: Vec<Tensor> = lengths
            .iter()
            .map(|&n| Tensor::zeros((n, DIM), DType::F32, &Device::Cpu).unwrap())
            .collect();
        let epoch = batches(&states, 4, 1);
        let mut seen: Vec<usize> = epoch.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        assert!(epoch.iter().all(|b| !b.is_empty() && b.len() <= 4));
        // Another epoch, another order; the same seed, the same order.
        assert_ne!(epoch, batches(&states, 4, 2));
        assert_eq!(epoch, batches(&states, 4, 1));
        // Padding: each row of the mask counts its own tokens.
        let (x, mask) = pad(&states, &epoch[0]).unwrap();
        let longest = epoch[0].iter().map(|&i| lengths[i]).max().unwrap();
        assert_eq!(x.dims(), &[epoch[0].len(), longest, DIM]);
        let counted: Vec<u32> = mask.sum(1).unwrap().to_vec1().unwrap();
        let expected: Vec<u32> = epoch[0].iter().map(|&i| lengths[i] as u32).collect();
        assert_eq!(counted, expected);
    }

    #[test]
    fn the_combination_leans_on_the_reader_that_is_right() {
        // The encoder is right about every review; the words, as sure, are always wrong.
        let truth: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let confident =
            |c: usize| -> [f32; 3] { std::array::from_fn(|k| if k == c { -0.1 } else { -3.0 }) };
        let encoder: Vec<[f32; 3]> = truth.iter().map(|&c| confident(c)).collect();
        let words: Vec<[f32; 3]> = truth.iter().map(|&c| confident((c + 1) % 3)).collect();
        let (weight, offsets, f1) = combine(&encoder, &words, &truth, None);
        assert!((f1 - 1.0).abs() < 1e-12);
        assert!(weight > 0.5, "{weight}");
        assert_eq!(
            mix(&encoder[0], &words[0], weight, offsets),
            Label::Negative
        );
        // The reading's score runs from negative to positive.
        let negative = mixed(&confident(0), &confident(0), 0.5, [0.0; 3]);
        let positive = mixed(&confident(2), &confident(2), 0.5, [0.0; 3]);
        assert_eq!(negative.label, Label::Negative);
        assert!(negative.score < -0.5 && positive.score > 0.5);
    }

    #[test]
    fn a_layer_norm_normalises_and_lets_gradients_through() {
        let device = Device::Cpu;
        let vars = VarMap::new();
        let norm = Norm::load(VarBuilder::from_varmap(&vars, DType::F32, &device)).unwrap();
        let x = Var::new(
            (0..2 * DIM).map(|i| (i % 17) as f32).collect::<Vec<_>>(),
            &device,
        )
        .unwrap();
        let x2 = x.as_tensor().reshape((2, DIM)).unwrap();
        let y = norm.forward(&x2).unwrap();
        let mean: Vec<f32> = y.mean(1).unwrap().to_vec1().unwrap();
        let var: Vec<f32> = y.sqr().unwrap().mean(1).unwrap().to_vec1().unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-4), "{mean:?}");
        assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-3), "{var:?}");
        let loss = y.narrow(1, 0, 1).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert!(grads.get(x.as_tensor()).is_some());
        assert!(grads.get(&norm.weight).is_some());
    }
}
