//! The supervised risk model: once merchants and staff have labelled enough outcomes
//! (`clerk risk label ORDER fraud|legit`), `clerk train` fits a logistic regression ([`Logistic`])
//! on the labelled writes' signals, and the gate scores with its probability of fraud instead of
//! the anomaly score; the reasons stay the signals' sentences. Saved as JSON under the data
//! directory and read at start. With few labels a regression, not trees: a handful of outcomes
//! cannot support more.

use super::{SIGNALS, Signals};
use linfa::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file a trained model is saved in, under the data directory.
pub const MODEL_FILE: &str = "models/risk.json";

/// The version of the saved file's shape.
const FORMAT: u32 = 1;

/// Labelled writes needed to train.
pub const MIN_LABELS: usize = 20;

/// Labels of each outcome needed to train.
pub const MIN_EACH: usize = 3;

/// Why a model could not be trained, saved or read.
#[derive(Debug, thiserror::Error)]
pub enum RiskModelError {
    /// Too few labelled outcomes.
    #[error(
        "too few labelled outcomes to train the risk model: {frauds} fraud and {legit} legit \
         (at least {MIN_LABELS} in all and {MIN_EACH} of each)"
    )]
    TooFewLabels {
        /// Labelled fraud.
        frauds: usize,
        /// Labelled legitimate.
        legit: usize,
    },
    /// The regression failed.
    #[error("the risk model failed to train: {0}")]
    Fit(String),
    /// The saved model could not be read or written.
    #[error(transparent)]
    Saved(#[from] crate::saved::SavedError),
}

/// A signal's value for the regression: a missing one reads as the harmless case.
fn features(values: &[Option<f64>]) -> Vec<f64> {
    let neutral = [1.0, 0.0, 0.0, 0.0, 365.0, 0.0];
    values
        .iter()
        .zip(neutral)
        .map(|(v, n)| {
            let x = v.unwrap_or(n);
            // Days of account age, and ratios, read on a log scale.
            if n > 0.0 { x.max(0.0).ln_1p() } else { x }
        })
        .collect()
}

/// Logistic regression on standardised features (linfa, L2), oriented so that its probability
/// is of the `true` label whichever class linfa calls positive (linfa's "positive" class is the
/// more frequent one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// The standardised features' weights towards `true`.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Each feature's mean and standard deviation over the rows fitted.
    pub scale: Vec<(f64, f64)>,
}

impl Logistic {
    /// Fits rows of equal width (at least one) to their labels (both present).
    pub fn fit(
        rows: &[&[f64]],
        labels: &[bool],
        max_iterations: u64,
    ) -> Result<Self, RiskModelError> {
        let width = rows.first().map_or(0, |r| r.len());
        let n = rows.len() as f64;
        let scale: Vec<(f64, f64)> = (0..width)
            .map(|j| {
                let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
                let var = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n;
                (mean, var.sqrt().max(1e-6))
            })
            .collect();
        let x = ndarray::Array2::from_shape_fn((rows.len(), width), |(i, j)| {
            (rows[i][j] - scale[j].0) / scale[j].1
        });
        let y = ndarray::Array1::from_iter(labels.iter().copied());
        let model = linfa_logistic::LogisticRegression::default()
            .alpha(1.0)
            .max_iterations(max_iterations)
            .fit(&linfa::Dataset::new(x, y))
            .map_err(|e| RiskModelError::Fit(e.to_string()))?;
        let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
        Ok(Self {
            weights: model.params().iter().map(|w| sign * w).collect(),
            intercept: sign * model.intercept(),
            scale,
        })
    }

    /// The probability of `true` for a row.
    pub fn probability(&self, row: &[f64]) -> f64 {
        let z = self.intercept
            + row
                .iter()
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|((x, (mean, sd)), w)| w * (x - mean) / sd)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// A trained risk model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskModel {
    format: u32,
    /// The regression towards fraud, on the signals in [`SIGNALS`]' order.
    #[serde(flatten)]
    pub regression: Logistic,
    /// Labelled writes trained on.
    pub labels: usize,
    /// Of which fraud.
    pub frauds: usize,
}

impl RiskModel {
    /// Trains on labelled writes: each one's signals (in [`SIGNALS`]' order) and whether it was
    /// fraud.
    pub fn train(labelled: &[(Vec<Option<f64>>, bool)]) -> Result<Self, RiskModelError> {
        let frauds = labelled.iter().filter(|(_, f)| *f).count();
        let legit = labelled.len() - frauds;
        if labelled.len() < MIN_LABELS || frauds < MIN_EACH || legit < MIN_EACH {
            return Err(RiskModelError::TooFewLabels { frauds, legit });
        }
        let rows: Vec<Vec<f64>> = labelled.iter().map(|(v, _)| features(v)).collect();
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let frauds_or_not: Vec<bool> = labelled.iter().map(|(_, f)| *f).collect();
        Ok(Self {
            format: FORMAT,
            regression: Logistic::fit(&rows, &frauds_or_not, 200)?,
            labels: labelled.len(),
            frauds,
        })
    }

    /// The probability that a write with these signals is fraud.
    pub fn probability(&self, signals: &Signals) -> f64 {
        self.regression.probability(&features(&signals.values()))
    }

    /// Saves under `data_dir` ([`MODEL_FILE`]).
    pub fn save(&self, data_dir: &Path) -> Result<(), RiskModelError> {
        Ok(crate::saved::save(data_dir, MODEL_FILE, self)?)
    }

    /// Reads the model saved under `data_dir`; `None` when none was trained.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, RiskModelError> {
        match crate::saved::load::<Self>(data_dir, MODEL_FILE)? {
            Some(model)
                if model.format != FORMAT || model.regression.weights.len() != SIGNALS.len() =>
            {
                Err(RiskModelError::Saved(crate::saved::SavedError::Format {
                    path: data_dir.join(MODEL_FILE),
                    reason: format!("format {}", model.format),
                }))
            }
            loaded => Ok(loaded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(changed: bool, fraud: bool) -> (Vec<Option<f64>>, bool) {
        let s = Signals {
            amount_vs_usual: Some(1.0),
            returned_or_cancelled_share: Some(0.1),
            changed_then_refund: Some(f64::from(changed)),
            gift_card_refund: Some(0.0),
            account_age_days: None,
            other_customers_at_address: Some(0.0),
        };
        (s.values().to_vec(), fraud)
    }

    #[test]
    fn labels_teach_which_signal_means_fraud() {
        // In this store, a change then a refund was fraud 9 times of 10; without it, 1 of 20.
        let mut data = Vec::new();
        data.extend((0..9).map(|_| labelled(true, true)));
        data.push(labelled(true, false));
        data.push(labelled(false, true));
        data.extend((0..19).map(|_| labelled(false, false)));
        let model = RiskModel::train(&data).unwrap();
        let with = Signals {
            changed_then_refund: Some(1.0),
            ..Signals::default()
        };
        let without = Signals {
            changed_then_refund: Some(0.0),
            ..Signals::default()
        };
        assert!(model.probability(&with) > 0.6, "{model:?}");
        assert!(model.probability(&without) < 0.3, "{model:?}");
        // Saved and read back the same.
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        assert_eq!(RiskModel::load(dir.path()).unwrap(), Some(model));
    }

    #[test]
    fn too_few_labels_train_nothing() {
        let data: Vec<_> = (0..30).map(|i| labelled(i % 2 == 0, i < 2)).collect();
        let error = RiskModel::train(&data).unwrap_err();
        assert_eq!(
            error.to_string(),
            "too few labelled outcomes to train the risk model: 2 fraud and 28 legit (at least 20 in all and 3 of each)"
        );
        assert_eq!(RiskModel::load(Path::new("/nonexistent")).unwrap(), None);
    }
}
