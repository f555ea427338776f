//! Demand forecasts: how many units of a product will sell in the coming weeks, with an
//! interval. One gradient-boosted tree model (forust-ml; linfa has no boosting) is trained over
//! every product's weekly series at once, on the features of [`features`]: it predicts the week's
//! `ln(1 + units)` relative to the series' level, so that one model serves a product selling 20 a
//! week and one selling 20,000.
//!
//! The interval comes from the model's own error: a first fit leaves out each series' last
//! weeks, its errors there (log scale) give the 10th and 90th percentiles, and the number of
//! trees where that error stopped improving is the final fit's. [`DemandModel::forecast`] looks
//! ahead step by step, each forecast week read as if sold, the interval widening with the square
//! root of the horizon. The same held-back weeks are the model's backtest ([`Backtest`]): its
//! one-step WAPE there beside the naive last week and the 4-week mean, saved with it.
//!
//! `clerk bench demand` measures it on Dominick's orange juice beside the naive last week, the
//! 4-week mean and a linear model on the same features ([`crate::bench::demand`]).

pub mod features;
pub mod history;
pub mod reorder;

use crate::boost::{BoostError, Loss, Table, Trees};
use features::{Row, Week, log_units, row, units_of};
use serde::{Deserialize, Serialize};

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// Too few weeks of history to learn from.
    #[error("too little sales history to learn from: {rows} product-weeks (at least {needed})")]
    TooLittleHistory {
        /// Rows the history gave.
        rows: usize,
        /// Rows needed.
        needed: usize,
    },
    /// The tree model failed.
    #[error(transparent)]
    Model(#[from] BoostError),
    /// The saved model could not be read or written.
    #[error(transparent)]
    File(#[from] crate::saved::SavedError),
}

/// The file a store's trained model is saved in, under the data directory.
pub const MODEL_FILE: &str = "models/demand.json";

/// A model shared by the tools, replaced when `clerk train` saves a new one.
pub type SharedDemand = crate::slot::Slot<DemandModel>;

/// The knobs of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The trees' knobs.
    pub trees: crate::boost::Params,
    /// Weeks of each series held back to calibrate the interval and the number of trees.
    pub calibration_weeks: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            trees: crate::boost::Params {
                loss: Loss::Squared,
                max_trees: 800,
                learning_rate: 0.05,
                max_depth: 5,
                min_leaf_weight: 1.0,
                patience: 40,
            },
            calibration_weeks: 8,
        }
    }
}

/// The least rows a model is trained on.
pub const MIN_ROWS: usize = 200;

/// One week's forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    /// The week.
    pub week: i64,
    /// Units expected.
    pub units: f64,
    /// The interval's low end (10th percentile of the model's own errors).
    pub low: f64,
    /// Its high end (90th percentile).
    pub high: f64,
}

/// How the model did on each series' held-back last weeks, one step ahead, beside the naive
/// last week and the 4-week mean on the same weeks: what `clerk train` reports and saves.
/// Those weeks also chose the number of trees and calibrated the interval, so the figures lean
/// slightly optimistic (the coverage is 80 % by construction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// Product-weeks held back.
    pub weeks: usize,
    /// Units sold in them.
    pub units: f64,
    /// The model's WAPE (Σ|forecast − sold| ÷ Σ sold), expected units.
    pub wape: f64,
    /// The naive last week's.
    pub wape_naive: f64,
    /// The mean of the 4 weeks before.
    pub wape_mean4: f64,
    /// The share of held-back weeks inside their 80 % interval.
    pub interval_coverage: f64,
}

/// A trained demand model.
#[derive(Debug, Serialize, Deserialize)]
pub struct DemandModel {
    trees: Trees,
    /// The 10th and 90th percentiles of the log-scale errors on the held-back weeks.
    pub error_quantiles: [f64; 2],
    /// The mean of `exp(error)` on the held-back weeks: what turns the model's typical (median)
    /// week into the expected one (Duan's smearing).
    pub smearing: f64,
    /// Rows (product-weeks) trained on.
    pub rows: usize,
    /// The knobs it was trained with.
    pub params: Params,
    /// How it did on the held-back weeks (absent from models saved before it was measured).
    #[serde(default)]
    pub backtest: Option<Backtest>,
}

/// The rows of the series' weeks that `keep` selects (series index, position), with their
/// targets (log units relative to the level) and weights (all 1: each product-week counts the
/// same; weighting by volume measured worse on the held-out weeks).
fn table(series: &[Vec<Week>], keep: impl Fn(usize, usize) -> bool) -> (Table, Vec<f64>, Vec<f64>) {
    let (rows, targets, weights, _) = table_with_context(series, keep);
    (rows, targets, weights)
}

/// One row's week as the baselines see it: its level, units sold, the week before's and the
/// mean of the 4 before.
#[derive(Debug, Clone, Copy)]
struct Context {
    level: f64,
    sold: f64,
    naive: f64,
    mean4: f64,
}

/// As [`table`], with each row's [`Context`].
fn table_with_context(
    series: &[Vec<Week>],
    keep: impl Fn(usize, usize) -> bool,
) -> (Table, Vec<f64>, Vec<f64>, Vec<Context>) {
    let mut rows = Table::new(features::WIDTH);
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    let mut context = Vec::new();
    for (s, weeks) in series.iter().enumerate() {
        for at in (0..weeks.len()).filter(|&at| keep(s, at)) {
            if let Some(r) = row(weeks, at) {
                targets.push(log_units(weeks[at].units) - r.level);
                weights.push(1.0);
                rows.push(&r.features);
                let before = &weeks[at.saturating_sub(4)..at];
                context.push(Context {
                    level: r.level,
                    sold: weeks[at].units,
                    naive: weeks[at - 1].units,
                    mean4: before.iter().map(|w| w.units).sum::<f64>() / before.len() as f64,
                });
            }
        }
    }
    (rows, targets, weights, context)
}

/// The WAPE of `forecasts` against what sold.
fn wape(sold: &[f64], forecasts: impl Iterator<Item = f64>) -> f64 {
    let error: f64 = sold.iter().zip(forecasts).map(|(y, f)| (y - f).abs()).sum();
    error / sold.iter().sum::<f64>().max(f64::MIN_POSITIVE)
}

/// The `q` quantile of `values` (sorted in place).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i]
}

impl DemandModel {
    /// Trains on every series (each sorted by week, one entry per week). `progress` is told the
    /// step reached (1: calibration fit, 2: final fit).
    pub fn train(
        series: &[Vec<Week>],
        params: Params,
        progress: impl Fn(u64),
    ) -> Result<Self, ForecastError> {
        let cut = |s: usize| series[s].len().saturating_sub(params.calibration_weeks);
        let (fit_x, fit_y, fit_w) = table(series, |s, at| at < cut(s));
        let (cal_x, cal_y, cal_w, context) = table_with_context(series, |s, at| at >= cut(s));
        if fit_x.len() < MIN_ROWS || cal_x.is_empty() {
            return Err(ForecastError::TooLittleHistory {
                rows: fit_x.len() + cal_x.len(),
                needed: MIN_ROWS,
            });
        }
        progress(1);
        let first = Trees::fit(
            &params.trees,
            (&fit_x, &fit_y, &fit_w),
            (&cal_x, &cal_y, &cal_w),
        )?;
        let predicted = first.predict(&cal_x);
        let mut errors: Vec<f64> = cal_y.iter().zip(&predicted).map(|(y, p)| y - p).collect();
        let smearing = errors.iter().map(|e| e.exp()).sum::<f64>() / errors.len() as f64;
        let error_quantiles = [quantile(&mut errors, 0.1), quantile(&mut errors, 0.9)];
        let sold: Vec<f64> = context.iter().map(|c| c.sold).collect();
        let logs: Vec<f64> = predicted
            .iter()
            .zip(&context)
            .map(|(p, c)| c.level + p)
            .collect();
        let inside = logs
            .iter()
            .zip(&sold)
            .filter(|&(&log, &y)| {
                (log + error_quantiles[0]..=log + error_quantiles[1]).contains(&log_units(y))
            })
            .count();
        let backtest = Backtest {
            weeks: sold.len(),
            units: sold.iter().sum(),
            wape: wape(
                &sold,
                logs.iter().map(|l| (l.exp() * smearing - 1.0).max(0.0)),
            ),
            wape_naive: wape(&sold, context.iter().map(|c| c.naive)),
            wape_mean4: wape(&sold, context.iter().map(|c| c.mean4)),
            interval_coverage: inside as f64 / sold.len() as f64,
        };

        progress(2);
        let (x, y, w) = table(series, |_, _| true);
        let trees = Trees::fit_rounds(&params.trees, first.kept, (&x, &y, &w))?;
        Ok(Self {
            trees,
            error_quantiles,
            smearing,
            rows: x.len(),
            params,
            backtest: Some(backtest),
        })
    }

    /// The typical (median) `ln(1 + units)` of each row.
    pub fn predict_logs(&self, rows: &[Row]) -> Vec<f64> {
        let mut x = Table::new(features::WIDTH);
        for r in rows {
            x.push(&r.features);
        }
        self.trees
            .predict(&x)
            .iter()
            .zip(rows)
            .map(|(p, r)| r.level + p)
            .collect()
    }

    /// Trees kept.
    pub fn trees_kept(&self) -> usize {
        self.trees.kept
    }

    /// Saves under `data_dir` ([`MODEL_FILE`]).
    pub fn save(&self, data_dir: &std::path::Path) -> Result<(), ForecastError> {
        Ok(crate::saved::save(data_dir, MODEL_FILE, self)?)
    }

    /// Reads the model saved under `data_dir`; `None` when none was trained.
    pub fn load(data_dir: &std::path::Path) -> Result<Option<Self>, ForecastError> {
        Ok(crate::saved::load(data_dir, MODEL_FILE)?)
    }

    /// The next `plans.len()` weeks after `history` (sorted by week), each plan giving the
    /// week, its price and promotion (units ignored): the expected units (the median smeared
    /// by the model's own errors) and the 80 % interval. Each forecast week is read as sold
    /// (its expected units) for the next one. Empty when `history` is empty.
    pub fn forecast(&self, history: &[Week], plans: &[Week]) -> Vec<Forecast> {
        let mut weeks = history.to_vec();
        let mut out = Vec::with_capacity(plans.len());
        for (step, plan) in plans.iter().enumerate() {
            weeks.push(*plan);
            let at = weeks.len() - 1;
            let Some(r) = row(&weeks, at) else {
                return Vec::new();
            };
            let log = self.predict_logs(&[r])[0];
            let widen = ((step + 1) as f64).sqrt();
            let units = ((log.exp() * self.smearing) - 1.0).max(0.0);
            weeks[at].units = units;
            out.push(Forecast {
                week: plan.week,
                units,
                low: units_of(log + self.error_quantiles[0] * widen),
                high: units_of(log + self.error_quantiles[1] * widen),
            });
        }
        out
    }
}
