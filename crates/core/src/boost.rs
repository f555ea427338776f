//! Gradient-boosted trees, for the models linfa has no kind of (demand forecasts, fraud): a thin
//! layer over forust-ml that takes rows as clerk builds them, fits with early stopping on a
//! held-back set, and saves with the rest of a model (serde). `NaN` features are missing values:
//! each split learns which side they go.

use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

/// The loss a model is fitted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Squared error (regression).
    Squared,
    /// Log-loss (two classes; predictions are probabilities).
    Logistic,
}

/// The knobs of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The loss.
    pub loss: Loss,
    /// Trees at most (early stopping picks fewer).
    pub max_trees: usize,
    /// Each tree's step.
    pub learning_rate: f32,
    /// Each tree's depth.
    pub max_depth: usize,
    /// The least summed hessian in a leaf.
    pub min_leaf_weight: f32,
    /// Rounds without improvement on the held-back set before stopping.
    pub patience: usize,
}

/// Why a fit failed: forust-ml's message.
#[derive(Debug, thiserror::Error)]
#[error("the tree model failed: {0}")]
pub struct BoostError(String);

impl From<forust_ml::errors::ForustError> for BoostError {
    fn from(e: forust_ml::errors::ForustError) -> Self {
        Self(e.to_string())
    }
}

/// Rows of `width` features, kept column after column (forust-ml's layout).
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<Vec<f64>>,
    rows: usize,
}

impl Table {
    /// An empty table of `width` features.
    pub fn new(width: usize) -> Self {
        Self {
            columns: vec![Vec::new(); width],
            rows: 0,
        }
    }

    /// Adds a row (`row.len()` must be the table's width).
    pub fn push(&mut self, row: &[f64]) {
        assert_eq!(row.len(), self.columns.len(), "a row of the table's width");
        for (column, x) in self.columns.iter_mut().zip(row) {
            column.push(*x);
        }
        self.rows += 1;
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn flat(&self) -> Vec<f64> {
        self.columns.concat()
    }
}

/// A fitted ensemble.
#[derive(Serialize, Deserialize)]
pub struct Trees {
    booster: GradientBooster,
    /// Trees kept (the held-back set's best round).
    pub kept: usize,
}

impl std::fmt::Debug for Trees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trees").field("kept", &self.kept).finish()
    }
}

fn booster(params: &Params, trees: usize, stop: bool) -> Result<GradientBooster, BoostError> {
    let (objective, metric) = match params.loss {
        Loss::Squared => (ObjectiveType::SquaredLoss, Metric::RootMeanSquaredError),
        Loss::Logistic => (ObjectiveType::LogLoss, Metric::LogLoss),
    };
    Ok(GradientBooster::default()
        .set_objective_type(objective)
        .set_iterations(trees)
        .set_learning_rate(params.learning_rate)
        .set_max_depth(params.max_depth)
        .set_min_leaf_weight(params.min_leaf_weight)
        .set_initialize_base_score(true)
        .set_seed(7)
        .set_evaluation_metric(stop.then_some(metric))
        .set_early_stopping_rounds(stop.then_some(params.patience)))
}

impl Trees {
    /// Fits on `(x, y, weights)`, stopping when the loss on `(held_x, held_y, held_weights)`
    /// has not improved for `params.patience` rounds; keeps the best round's trees.
    pub fn fit(
        params: &Params,
        (x, y, weights): (&Table, &[f64], &[f64]),
        (held_x, held_y, held_weights): (&Table, &[f64], &[f64]),
    ) -> Result<Self, BoostError> {
        let data = x.flat();
        let held = held_x.flat();
        let width = x.columns.len();
        let mut booster = booster(params, params.max_trees, true)?;
        booster.fit(
            &Matrix::new(&data, x.len(), width),
            y,
            weights,
            Some(vec![(
                Matrix::new(&held, held_x.len(), width),
                held_y,
                held_weights,
            )]),
        )?;
        let kept = booster.best_iteration.map_or(params.max_trees, |b| b + 1);
        Ok(Self {
            booster: booster.set_prediction_iteration(Some(kept)),
            kept,
        })
    }

    /// Fits exactly `trees` trees on `(x, y, weights)` (after [`Trees::fit`] chose how many).
    pub fn fit_rounds(
        params: &Params,
        trees: usize,
        (x, y, weights): (&Table, &[f64], &[f64]),
    ) -> Result<Self, BoostError> {
        let data = x.flat();
        let mut booster = booster(params, trees.max(1), false)?;
        booster.fit(
            &Matrix::new(&data, x.len(), x.columns.len()),
            y,
            weights,
            None,
        )?;
        Ok(Self {
            booster,
            kept: trees.max(1),
        })
    }

    /// The model's output for each row: a value (squared loss) or a probability (log-loss).
    pub fn predict(&self, x: &Table) -> Vec<f64> {
        let data = x.flat();
        let raw = self
            .booster
            .predict(&Matrix::new(&data, x.len(), x.columns.len()), true);
        match self.booster.objective_type {
            ObjectiveType::LogLoss => raw.into_iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
            ObjectiveType::SquaredLoss => raw,
        }
    }
}
