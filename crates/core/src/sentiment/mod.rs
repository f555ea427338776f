//! The sentiment model: how a review or a shopper's message reads — negative, neutral or
//! positive — with a score from -1 to 1. A multinomial logistic regression (linfa) over TF-IDF
//! unigrams and bigrams ([`text`]), trained on star-rated reviews (1–2 stars negative, 3 neutral,
//! 4–5 positive; [`train`]), with per-class offsets tuned on held-out reviews for macro-F1.
//!
//! clerk ships one trained on the Women's E-Commerce Clothing Reviews (CC0; `models/sentiment.json`,
//! made by `clerk sentiment train`), so shoppers' moods are read from the first start; `clerk
//! train` replaces it with one trained on the store's own reviews when it has enough of them.
//! [`aspects`] finds what reviewers talk about; [`lexicon`] is the VADER baseline the bench
//! compares with.

pub mod aspects;
pub mod lexicon;
pub mod text;
pub mod train;
pub mod tuned;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use text::Featurizer;

/// Where a trained model is saved, under the data directory.
pub const MODEL_FILE: &str = "models/sentiment.json";

/// The model clerk ships, trained on the clothing reviews (see the module's documentation).
const BUNDLED: &str = include_str!("../../../../models/sentiment.json");

/// The version of the saved file's shape; a file of another version must be trained again.
const FORMAT: u32 = 1;

/// Why a sentiment model could not be trained, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SentimentError {
    /// The examples cannot train a model (too few, or a class missing).
    #[error("cannot train a sentiment model: {0}")]
    Data(String),
    /// linfa refused the data or did not converge.
    #[error("training the sentiment model failed: {0}")]
    Fit(String),
    /// The model file could not be read or written.
    #[error("sentiment model {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The model file is not a model of this version.
    #[error("sentiment model {path} cannot be used: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The three classes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Unhappy (a 1–2 star review).
    Negative,
    /// Mixed or matter-of-fact (3 stars).
    Neutral,
    /// Happy (4–5 stars).
    Positive,
}

impl Label {
    /// Every class, in the model's order.
    pub const ALL: [Label; 3] = [Label::Negative, Label::Neutral, Label::Positive];

    /// The class of a 1–5 star rating.
    pub fn of_rating(rating: u8) -> Label {
        match rating {
            0..=2 => Label::Negative,
            3 => Label::Neutral,
            _ => Label::Positive,
        }
    }

    /// Its position in [`Label::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name, as the JSON says it.
    pub fn name(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }
}

/// How one text reads.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sentiment {
    /// The most likely class.
    pub label: Label,
    /// P(positive) − P(negative), from -1 (surely negative) to 1 (surely positive), rounded to
    /// three decimals.
    pub score: f32,
}

impl Sentiment {
    /// The score in thousandths (-1000 to 1000), as the store keeps a conversation's mood.
    pub fn thousandths(&self) -> i64 {
        (f64::from(self.score) * 1000.0).round() as i64
    }
}

/// What a model was trained on, and how well it did on the reviews held out while tuning.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    /// Where the examples came from ("store reviews", a file name).
    pub source: String,
    /// Examples trained on, by class (negative, neutral, positive).
    pub examples: [usize; 3],
    /// Features kept.
    pub features: usize,
    /// Macro-F1 on the held-out tuning reviews.
    pub validation_macro_f1: f64,
    /// Seconds spent training.
    pub seconds: f64,
}

/// A trained sentiment model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SentimentModel {
    format: u32,
    /// How texts become terms.
    featurizer: Featurizer,
    /// The kept terms, in feature order.
    terms: Vec<String>,
    /// Each term's inverse document frequency.
    idf: Vec<f32>,
    /// Each term's weight for each class.
    weights: Vec<[f32; 3]>,
    /// Each class's intercept, offsets included.
    intercept: [f32; 3],
    /// What it was trained on.
    pub report: TrainReport,
    #[serde(skip)]
    index: HashMap<String, u32>,
    /// The store's tuned encoder, when `clerk train --tune-encoder` made one: it then reads
    /// whole reviews ([`SentimentModel::review_sentiments`]).
    #[serde(skip)]
    tuned: Option<Arc<tuned::TunedSentiment>>,
}

impl SentimentModel {
    /// The model clerk ships, read once per process.
    pub fn bundled() -> Arc<SentimentModel> {
        static MODEL: OnceLock<Arc<SentimentModel>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                Arc::new(
                    SentimentModel::from_json(
                        BUNDLED.as_bytes(),
                        Path::new("models/sentiment.json"),
                    )
                    .expect("the bundled sentiment model is valid (a test checks it)"),
                )
            })
            .clone()
    }

    /// How a review (title and text) reads. A chat message is a text with an empty title.
    pub fn score(&self, title: &str, text: &str) -> Sentiment {
        let p = self.probabilities(title, text);
        let best = (0..3)
            .max_by(|&a, &b| p[a].total_cmp(&p[b]))
            .expect("three classes");
        Sentiment {
            label: Label::ALL[best],
            score: ((p[2] - p[0]) * 1000.0).round() / 1000.0,
        }
    }

    /// How each review (title, text) reads: with the store's tuned encoder combined with its
    /// TF-IDF model where there is one (`clerk bench sentiment` measures both), else with this
    /// model. Clauses and chat messages are read by [`SentimentModel::score`] alone.
    pub fn review_sentiments(&self, reviews: &[(&str, &str)]) -> Vec<Sentiment> {
        if let Some(tuned) = &self.tuned {
            match tuned.read(reviews) {
                Ok(labels) => return labels,
                Err(error) => {
                    tracing::warn!(%error, "the tuned encoder failed; reviews read by words alone")
                }
            }
        }
        reviews
            .iter()
            .map(|(title, text)| self.score(title, text))
            .collect()
    }

    /// This model, with the store's tuned encoder reading whole reviews.
    pub fn with_tuned(mut self, tuned: Option<Arc<tuned::TunedSentiment>>) -> SentimentModel {
        self.tuned = tuned;
        self
    }

    /// The tuned encoder's report, when the store has one.
    pub fn tuned_report(&self) -> Option<&tuned::TunedReport> {
        self.tuned.as_deref().map(tuned::TunedSentiment::report)
    }

    /// The three classes' probabilities (negative, neutral, positive).
    pub fn probabilities(&self, title: &str, text: &str) -> [f32; 3] {
        let mut logits = self.intercept;
        for counts in self.featurizer.fields(title, text) {
            for (feature, w) in text::tf_idf(&counts, &self.index, &self.idf) {
                let weights = self.weights[feature as usize];
                for (logit, weight) in logits.iter_mut().zip(weights) {
                    *logit += w * weight;
                }
            }
        }
        softmax(logits)
    }

    /// Saves the model as `data_dir/models/sentiment.json`.
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, SentimentError> {
        let path = data_dir.join(MODEL_FILE);
        self.save_as(&path)?;
        Ok(path)
    }

    /// Saves the model as `path` (written beside, then renamed).
    pub fn save_as(&self, path: &Path) -> Result<(), SentimentError> {
        let io = |source| SentimentError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut text = serde_json::to_string(self).expect("a model serialises");
        text.push('\n');
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)
    }

    /// The model saved under `data_dir`; `None` when none was trained there.
    pub fn load(data_dir: &Path) -> Result<Option<SentimentModel>, SentimentError> {
        let path = data_dir.join(MODEL_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => SentimentModel::from_json(&bytes, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SentimentError::Io { path, source }),
        }
    }

    /// Reads a saved model, checking that its parts agree.
    fn from_json(bytes: &[u8], path: &Path) -> Result<SentimentModel, SentimentError> {
        let bad = |reason: String| SentimentError::Format {
            path: path.to_owned(),
            reason,
        };
        let model: SentimentModel =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if model.format != FORMAT {
            return Err(bad(format!("format {} instead of {FORMAT}", model.format)));
        }
        if model.idf.len() != model.terms.len() || model.weights.len() != model.terms.len() {
            return Err(bad("its terms and weights do not match".into()));
        }
        Ok(model.reindexed())
    }

    /// The model with its terms' index rebuilt (it is not saved).
    pub(crate) fn reindexed(mut self) -> SentimentModel {
        self.index = self
            .terms
            .iter()
            .enumerate()
            .map(|(i, term)| (term.clone(), i as u32))
            .collect();
        self
    }
}

/// How a shopper's message reads, in thousandths from -1000 to 1000: the VADER lexicon
/// ([`lexicon`]), which reads short chat far better than the review-trained model. The store
/// keeps it as the conversation's mood; the engine offers a person on a clearly upset message.
pub fn message_mood(text: &str) -> i64 {
    lexicon::Lexicon::bundled().message(text).thousandths()
}

/// The loaded sentiment model every part of clerk reads; `clerk train` swaps it. Empty, it is
/// the bundled model ([`SentimentModel::bundled`]).
pub type SharedSentiment = crate::slot::Slot<SentimentModel>;

/// The model saved under `data_dir`, or the bundled one when none is (or it cannot be read);
/// with the tuned encoder saved there, when there is one and `embedder` can run it.
pub fn load_or_bundled(
    data_dir: &Path,
    embedder: Option<&crate::embed::SharedEmbedder>,
) -> Arc<SentimentModel> {
    let model = match SentimentModel::load(data_dir) {
        Ok(Some(model)) => Arc::new(model),
        Ok(None) => SentimentModel::bundled(),
        Err(error) => {
            tracing::warn!(%error, "the saved sentiment model is not used; the bundled one is");
            SentimentModel::bundled()
        }
    };
    let Some(embedder) = embedder else {
        return model;
    };
    match tuned::TunedSentiment::load(data_dir, embedder.clone()) {
        Ok(None) => model,
        Ok(Some(tuned)) => Arc::new((*model).clone().with_tuned(Some(Arc::new(tuned)))),
        Err(error) => {
            tracing::warn!(%error, "the tuned sentiment encoder is not used; reviews are read by words");
            model
        }
    }
}

/// Softmax of three logits.
fn softmax(logits: [f32; 3]) -> [f32; 3] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = logits.map(|l| (l - max).exp());
    let sum: f32 = exp.iter().sum();
    exp.map(|e| e / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_model_loads_and_reads_plain_sentiment() {
        let model = SentimentModel::bundled();
        assert!(model.terms.len() > 1000);
        let bad = model.score(
            "",
            "This is the worst jacket I have ever bought. It fell apart.",
        );
        let good = model.score(
            "",
            "I love this dress, it fits perfectly and the fabric is soft.",
        );
        assert_eq!(bad.label, Label::Negative, "{bad:?}");
        assert_eq!(good.label, Label::Positive, "{good:?}");
        assert!(bad.score < -0.2 && good.score > 0.5);
    }

    #[test]
    fn a_model_of_another_format_is_refused() {
        let mut json: serde_json::Value = serde_json::from_str(BUNDLED).unwrap();
        json["format"] = 99.into();
        let error = SentimentModel::from_json(json.to_string().as_bytes(), Path::new("m.json"))
            .unwrap_err();
        assert!(error.to_string().contains("format 99"), "{error}");
    }
}
