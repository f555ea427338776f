//! Training: TF-IDF terms kept by document frequency and χ², a multinomial logistic regression
//! fitted by linfa (L-BFGS, L2), and per-class offsets tuned on a fifth of the training reviews
//! held out, so that the rarer negative and neutral reviews are not drowned by the positive ones
//! (linfa's logistic regression takes no class weights). Also the metrics the bench reports.

use super::text::{Featurizer, TermCounts, tf_idf};
use super::{FORMAT, Label, SentimentError, SentimentModel, TrainReport};
use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use std::collections::HashMap;
use std::time::Instant;

/// One labelled text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// A review's title (empty for a chat message).
    pub title: String,
    /// The text.
    pub text: String,
    /// Its class.
    pub label: Label,
}

impl Example {
    /// A review as an example: its stars give its class.
    pub fn rated(rating: u8, title: String, text: String) -> Example {
        Example {
            title,
            text,
            label: Label::of_rating(rating),
        }
    }
}

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// How texts become terms.
    pub featurizer: Featurizer,
    /// How many terms to keep, best by χ² against the classes.
    pub features: usize,
    /// A term must occur in at least this many examples.
    pub min_df: u32,
    /// The L2 penalty's weight (linfa's `alpha`).
    pub alpha: f32,
    /// L-BFGS iterations at most.
    pub iterations: u64,
    /// Tune the per-class offsets on held-out examples (else the plain argmax).
    pub tune_offsets: bool,
}

impl Default for Params {
    /// clerk's model.
    fn default() -> Self {
        Params {
            featurizer: Featurizer {
                negation: true,
                title_field: true,
            },
            features: 5000,
            min_df: 2,
            alpha: 1.0,
            iterations: 300,
            tune_offsets: true,
        }
    }
}

impl Params {
    /// The usual peer: TF-IDF unigrams and bigrams of title and text together, the same
    /// logistic regression, no negation marks, no offsets.
    pub fn tf_idf_baseline() -> Params {
        Params {
            featurizer: Featurizer {
                negation: false,
                title_field: false,
            },
            tune_offsets: false,
            ..Params::default()
        }
    }
}

/// Trains a model on `examples`. `source` names them in the model's report.
pub fn train(
    examples: &[Example],
    params: Params,
    source: &str,
) -> Result<SentimentModel, SentimentError> {
    train_reporting(examples, params, source, &|_| {})
}

/// As [`train`], telling `progress` each stage as it begins (for a progress line).
pub fn train_reporting(
    examples: &[Example],
    params: Params,
    source: &str,
    progress: &dyn Fn(&'static str),
) -> Result<SentimentModel, SentimentError> {
    let started = Instant::now();
    progress("reading the terms");
    let mut examples_by_class = [0usize; 3];
    for example in examples {
        examples_by_class[example.label.index()] += 1;
    }
    if let Some(missing) = Label::ALL
        .iter()
        .find(|label| examples_by_class[label.index()] < 10)
    {
        return Err(SentimentError::Data(format!(
            "at least 10 {} examples are needed, there are {}",
            missing.name(),
            examples_by_class[missing.index()]
        )));
    }
    let fields: Vec<[TermCounts; 2]> = examples
        .iter()
        .map(|e| params.featurizer.fields(&e.title, &e.text))
        .collect();
    let labels: Vec<usize> = examples.iter().map(|e| e.label.index()).collect();

    // Vocabulary: terms in at least `min_df` examples, with their smoothed idf.
    let mut df: HashMap<&str, u32> = HashMap::new();
    for example in &fields {
        for counts in example {
            for term in counts.keys() {
                *df.entry(term.as_str()).or_default() += 1;
            }
        }
    }
    let mut terms: Vec<&str> = df
        .iter()
        .filter(|&(_, &n)| n >= params.min_df)
        .map(|(&t, _)| t)
        .collect();
    terms.sort_unstable();
    let n = examples.len() as f32;
    let idf: Vec<f32> = terms
        .iter()
        .map(|t| ((1.0 + n) / (1.0 + df[t] as f32)).ln() + 1.0)
        .collect();
    let index: HashMap<String, u32> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| ((*t).to_owned(), i as u32))
        .collect();
    let rows: Vec<Vec<(u32, f32)>> = fields
        .iter()
        .map(|example| {
            example
                .iter()
                .flat_map(|counts| tf_idf(counts, &index, &idf))
                .collect()
        })
        .collect();

    // Keep the terms that tell the classes apart best (χ², as scikit-learn computes it).
    progress("choosing the terms");
    let keep = chi2_best(&rows, &labels, terms.len(), params.features);
    let kept_terms: Vec<String> = keep.iter().map(|&f| terms[f].to_owned()).collect();
    let kept_idf: Vec<f32> = keep.iter().map(|&f| idf[f]).collect();
    let remap: HashMap<u32, u32> = keep
        .iter()
        .enumerate()
        .map(|(new, &old)| (old as u32, new as u32))
        .collect();
    let rows: Vec<Vec<(u32, f32)>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .filter_map(|(f, w)| Some((*remap.get(&f)?, w)))
                .collect()
        })
        .collect();

    // Offsets: fit on four fifths, choose the offsets that maximise macro-F1 on the rest.
    let (offsets, validation_macro_f1) = if params.tune_offsets {
        progress("fitting on four fifths, to tune the offsets on the rest");
        let (fit_part, held_out) = stratified_split(&labels, 0.2, 7);
        let (weights, intercept) = fit(&rows, &labels, &fit_part, keep.len(), params)?;
        let logits: Vec<[f32; 3]> = held_out
            .iter()
            .map(|&i| logits(&rows[i], &weights, intercept))
            .collect();
        let truth: Vec<usize> = held_out.iter().map(|&i| labels[i]).collect();
        best_offsets(&logits, &truth, 0..=30)
    } else {
        ([0.0; 3], f64::NAN)
    };
    progress("fitting on all");
    let all: Vec<usize> = (0..rows.len()).collect();
    let (weights, intercept) = fit(&rows, &labels, &all, keep.len(), params)?;
    Ok(SentimentModel {
        format: FORMAT,
        featurizer: params.featurizer,
        index: kept_terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect(),
        terms: kept_terms,
        idf: kept_idf,
        weights,
        intercept: add(intercept, offsets),
        report: TrainReport {
            source: source.to_owned(),
            examples: examples_by_class,
            features: keep.len(),
            validation_macro_f1: if validation_macro_f1.is_nan() {
                0.0
            } else {
                (validation_macro_f1 * 1e4).round() / 1e4
            },
            seconds: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        },
        tuned: None,
    })
}

/// Fits linfa's multinomial logistic regression on the rows `subset`; the weights per feature
/// and the intercepts, by class.
fn fit(
    rows: &[Vec<(u32, f32)>],
    labels: &[usize],
    subset: &[usize],
    features: usize,
    params: Params,
) -> Result<(Vec<[f32; 3]>, [f32; 3]), SentimentError> {
    let mut x = Array2::<f32>::zeros((subset.len(), features));
    for (r, &i) in subset.iter().enumerate() {
        for &(f, w) in &rows[i] {
            x[[r, f as usize]] = w;
        }
    }
    let y: Array1<usize> = subset.iter().map(|&i| labels[i]).collect();
    let model = MultiLogisticRegression::default()
        .alpha(params.alpha)
        .max_iterations(params.iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|e| SentimentError::Fit(e.to_string()))?;
    // linfa orders the classes as it found them: put them back in label order.
    let classes = model.classes();
    let column = |label: usize| {
        classes
            .iter()
            .position(|&c| c == label)
            .expect("every class is in the training rows")
    };
    let columns = [column(0), column(1), column(2)];
    let params_matrix = model.params();
    let weights = (0..features)
        .map(|f| columns.map(|c| params_matrix[[f, c]]))
        .collect();
    let intercept = columns.map(|c| model.intercept()[c]);
    Ok((weights, intercept))
}

fn logits(row: &[(u32, f32)], weights: &[[f32; 3]], intercept: [f32; 3]) -> [f32; 3] {
    let mut out = intercept;
    for &(f, w) in row {
        for (o, weight) in out.iter_mut().zip(weights[f as usize]) {
            *o += w * weight;
        }
    }
    out
}

/// The per-class offsets (the negative and neutral classes' in tenths over `tenths`, the
/// positive class's 0) that, added to `scores`, give the best macro-F1 on `truth`; and that
/// macro-F1. Of equal ones, the first found.
pub(crate) fn best_offsets(
    scores: &[[f32; 3]],
    truth: &[usize],
    tenths: std::ops::RangeInclusive<i32>,
) -> ([f32; 3], f64) {
    let mut best = ([0.0f32; 3], -1.0);
    for a in tenths.clone() {
        for b in tenths.clone() {
            let offsets = [a as f32 * 0.1, b as f32 * 0.1, 0.0];
            let predicted: Vec<usize> = scores.iter().map(|l| argmax(add(*l, offsets))).collect();
            let f1 = macro_f1(truth, &predicted);
            if f1 > best.1 + 1e-9 {
                best = (offsets, f1);
            }
        }
    }
    best
}

fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn argmax(v: [f32; 3]) -> usize {
    (0..3)
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .expect("three")
}

/// The `k` features with the highest χ² statistic against the classes.
fn chi2_best(rows: &[Vec<(u32, f32)>], labels: &[usize], features: usize, k: usize) -> Vec<usize> {
    let mut observed = vec![[0f64; 3]; features];
    let mut class_count = [0f64; 3];
    for (row, &label) in rows.iter().zip(labels) {
        class_count[label] += 1.0;
        for &(f, w) in row {
            observed[f as usize][label] += f64::from(w);
        }
    }
    let n: f64 = class_count.iter().sum();
    let mut scored: Vec<(usize, f64)> = observed
        .iter()
        .enumerate()
        .map(|(f, obs)| {
            let total: f64 = obs.iter().sum();
            let chi2 = (0..3)
                .map(|c| {
                    let expected = total * class_count[c] / n;
                    if expected > 0.0 {
                        (obs[c] - expected).powi(2) / expected
                    } else {
                        0.0
                    }
                })
                .sum::<f64>();
            (f, chi2)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = scored.into_iter().take(k).map(|(f, _)| f).collect();
    keep.sort_unstable();
    keep
}

/// Splits the example indices in two, each class in the same proportion (`test_share` of each
/// class to the second part), shuffled by a fixed `seed`: the same split on every run.
pub fn stratified_split(labels: &[usize], test_share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in 0..3 {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.sort_by_key(|&i| splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let cut = (members.len() as f64 * test_share).round() as usize;
        test.extend_from_slice(&members[..cut]);
        train.extend_from_slice(&members[cut..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The mean of the three classes' F1 scores (a class never predicted nor present counts 0).
pub fn macro_f1(truth: &[usize], predicted: &[usize]) -> f64 {
    (0..3).map(|c| f1(truth, predicted, c)).sum::<f64>() / 3.0
}

/// The F1 score of class `c`.
pub fn f1(truth: &[usize], predicted: &[usize], c: usize) -> f64 {
    let tp = truth
        .iter()
        .zip(predicted)
        .filter(|&(&t, &p)| t == c && p == c)
        .count() as f64;
    let predicted_c = predicted.iter().filter(|&&p| p == c).count() as f64;
    let actual_c = truth.iter().filter(|&&t| t == c).count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (predicted_c + actual_c)
    }
}

/// The share of predictions that are right.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    let right = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    right as f64 / truth.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_matches_a_hand_computation() {
        let truth = [0, 0, 1, 2, 2, 2];
        let predicted = [0, 1, 1, 2, 2, 0];
        // class 0: tp 1, predicted 2, actual 2 → 0.5; class 1: tp 1, 2, 1 → 2/3; class 2: tp 2, 2, 3 → 0.8
        assert!((macro_f1(&truth, &predicted) - (0.5 + 2.0 / 3.0 + 0.8) / 3.0).abs() < 1e-12);
        assert!((accuracy(&truth, &predicted) - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn the_split_is_stratified_and_the_same_every_time() {
        let labels: Vec<usize> = (0..100)
            .map(|i| {
                if i < 20 {
                    0
                } else if i < 50 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let (train, test) = stratified_split(&labels, 0.2, 42);
        assert_eq!(test.len(), 20);
        assert_eq!(test.iter().filter(|&&i| labels[i] == 0).count(), 4);
        assert_eq!(train.len() + test.len(), 100);
        assert_eq!((train, test), stratified_split(&labels, 0.2, 42));
    }

    #[test]
    fn a_class_without_examples_is_refused_plainly() {
        let examples: Vec<Example> = (0..30)
            .map(|i| Example {
                title: String::new(),
                text: format!("great {i}"),
                label: Label::Positive,
            })
            .collect();
        let error = train(&examples, Params::default(), "test").unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot train a sentiment model: at least 10 negative examples are needed, there are 0"
        );
    }
}
