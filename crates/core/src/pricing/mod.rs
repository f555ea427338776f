//! Prices: how units respond to a product's own price and its rivals' (elasticities), estimated
//! by a log-log regression with promotion flags, and what a new price would do.
//!
//! [`fit`] regresses `ln units` on the logs of the prices and the promotion flags, each
//! demeaned within its group (a store, a store × product), so that only a group's changes over
//! time inform the slopes, not which stores sell more. Least squares by linfa; the standard
//! errors from `σ² (XᵀX)⁻¹`, which this module inverts itself (the design is a few columns
//! wide). [`what_if`] turns an own-price elasticity and its error into units, revenue and margin
//! at a new price, with an interval.
//!
//! `clerk bench pricing` measures the elasticities on Dominick's orange juice, predicting the
//! units after each price move held out beside a no-elasticity baseline and a single pooled
//! elasticity ([`crate::bench::pricing`]).

use crate::forecast::features::Week;
use linfa::traits::Fit as _;
use serde::{Deserialize, Serialize};

/// Why a regression could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// Fewer rows than columns, or a column that never varies within a group.
    #[error("too little price variation to estimate from ({rows} rows, {columns} columns)")]
    TooLittleVariation {
        /// Rows given.
        rows: usize,
        /// Columns asked for.
        columns: usize,
    },
    /// linfa's least squares failed.
    #[error("the regression failed: {0}")]
    Fit(String),
}

/// One observation: its group, `ln units`, and the regressors (logs of prices, flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The group whose mean is removed (a store; a store × product).
    pub group: u64,
    /// `ln units`.
    pub log_units: f64,
    /// The regressors, in the fit's column order.
    pub x: Vec<f64>,
}

/// A fitted log-log regression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    /// The columns' names.
    pub names: Vec<String>,
    /// The slopes (for a log price: an elasticity).
    pub coefficients: Vec<f64>,
    /// Their standard errors.
    pub standard_errors: Vec<f64>,
    /// Rows used.
    pub rows: usize,
    /// The residuals' standard deviation (log units).
    pub residual_sd: f64,
}

impl Fit {
    /// The coefficient named `name`, with its standard error.
    pub fn get(&self, name: &str) -> Option<(f64, f64)> {
        let i = self.names.iter().position(|n| n == name)?;
        Some((self.coefficients[i], self.standard_errors[i]))
    }
}

/// Inverts a symmetric positive-definite `k × k` matrix (row-major) by Gauss-Jordan with partial
/// pivoting; `None` when it is singular.
pub fn invert(matrix: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut a = matrix.to_vec();
    let mut inv: Vec<f64> = (0..k * k)
        .map(|i| if i / k == i % k { 1.0 } else { 0.0 })
        .collect();
    for col in 0..k {
        let pivot =
            (col..k).max_by(|&x, &y| a[x * k + col].abs().total_cmp(&a[y * k + col].abs()))?;
        if a[pivot * k + col].abs() < 1e-12 {
            return None;
        }
        for j in 0..k {
            a.swap(col * k + j, pivot * k + j);
            inv.swap(col * k + j, pivot * k + j);
        }
        let p = a[col * k + col];
        for j in 0..k {
            a[col * k + j] /= p;
            inv[col * k + j] /= p;
        }
        for row in (0..k).filter(|&r| r != col) {
            let f = a[row * k + col];
            if f != 0.0 {
                for j in 0..k {
                    a[row * k + j] -= f * a[col * k + j];
                    inv[row * k + j] -= f * inv[col * k + j];
                }
            }
        }
    }
    Some(inv)
}

/// Fits `ln units` on the columns `names` over `rows`, each variable demeaned within its
/// group.
pub fn fit(names: &[&str], rows: &[Observation]) -> Result<Fit, PricingError> {
    let k = names.len();
    let too_little = || PricingError::TooLittleVariation {
        rows: rows.len(),
        columns: k,
    };
    if rows.len() <= k + 1 {
        return Err(too_little());
    }
    // Group means.
    let mut sums: std::collections::HashMap<u64, (f64, Vec<f64>, usize)> = Default::default();
    for r in rows {
        let e = sums
            .entry(r.group)
            .or_insert_with(|| (0.0, vec![0.0; k], 0));
        e.0 += r.log_units;
        for (s, x) in e.1.iter_mut().zip(&r.x) {
            *s += x;
        }
        e.2 += 1;
    }
    let n = rows.len();
    let mut x = ndarray::Array2::<f64>::zeros((n, k));
    let mut y = ndarray::Array1::<f64>::zeros(n);
    for (i, r) in rows.iter().enumerate() {
        let (sy, sx, count) = &sums[&r.group];
        let c = *count as f64;
        y[i] = r.log_units - sy / c;
        for j in 0..k {
            x[[i, j]] = r.x[j] - sx[j] / c;
        }
    }
    // (XᵀX)⁻¹ for the errors, and to refuse a column that never varies.
    let xtx = x.t().dot(&x);
    let inverse = invert(xtx.as_slice().expect("standard layout"), k).ok_or_else(too_little)?;
    let model = linfa_linear::LinearRegression::new()
        .with_intercept(false)
        .fit(&linfa::Dataset::new(x.clone(), y.clone()))
        .map_err(|e| PricingError::Fit(e.to_string()))?;
    let coefficients = model.params().to_vec();
    let residuals = &y - &x.dot(model.params());
    let groups = sums.len();
    let dof = n.saturating_sub(k + groups).max(1) as f64;
    let sigma2 = residuals.iter().map(|e| e * e).sum::<f64>() / dof;
    Ok(Fit {
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        standard_errors: (0..k)
            .map(|j| (sigma2 * inverse[j * k + j]).max(0.0).sqrt())
            .collect(),
        coefficients,
        rows: n,
        residual_sd: sigma2.sqrt(),
    })
}

/// What a new price would do, from an own-price elasticity and its standard error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// Units per week now (the recent mean).
    pub units_now: f64,
    /// Units per week expected at the new price.
    pub units_new: f64,
    /// The 80 % interval of `units_new` (from the elasticity's error).
    pub units_interval: [f64; 2],
    /// Revenue per week now and at the new price.
    pub revenue: [f64; 2],
    /// Margin per week now and at the new price, when the unit cost is known.
    pub margin: Option<[f64; 2]>,
}

/// The file a store's price model is saved in, under the data directory.
pub const MODEL_FILE: &str = "models/pricing.json";

/// Weeks with sales a product needs for its own elasticity.
pub const MIN_OWN_WEEKS: usize = 8;

/// A store's own price response: one elasticity pooled over its products (each product's
/// weeks demeaned on their own), the fallback for a product whose history is too short or too
/// flat to give its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorePrices {
    /// The pooled own-price elasticity and its standard error.
    pub pooled: (f64, f64),
    /// Product-weeks with sales it was estimated on.
    pub rows: usize,
    /// Products they came from.
    pub products: usize,
}

/// `ln units` on `ln price` over the weeks with sales of each series (its own group).
fn observations<'a>(series: impl Iterator<Item = &'a [Week]>) -> Vec<Observation> {
    series
        .enumerate()
        .flat_map(|(g, weeks)| {
            weeks
                .iter()
                .filter(|w| w.units > 0.0 && w.price > 0.0)
                .map(move |w| Observation {
                    group: g as u64,
                    log_units: w.units.ln(),
                    x: vec![w.price.ln()],
                })
        })
        .collect()
}

impl StorePrices {
    /// Estimates the pooled elasticity over every product's weekly series.
    pub fn train(series: &[Vec<Week>]) -> Result<Self, PricingError> {
        let rows = observations(series.iter().map(Vec::as_slice));
        let fit = fit(&["ln_price"], &rows)?;
        Ok(Self {
            pooled: fit.get("ln_price").expect("the one column"),
            rows: fit.rows,
            products: series.len(),
        })
    }
}

/// A product's own elasticity from its weekly series, with its standard error and the weeks
/// with sales it rests on; `None` when it has fewer than [`MIN_OWN_WEEKS`] such weeks or its
/// price never moved.
pub fn own_elasticity(weeks: &[Week]) -> Option<(f64, f64, usize)> {
    let rows = observations(std::iter::once(weeks));
    if rows.len() < MIN_OWN_WEEKS {
        return None;
    }
    let fit = fit(&["ln_price"], &rows).ok()?;
    let (e, se) = fit.get("ln_price")?;
    Some((e, se, fit.rows))
}

/// How `rival`'s units respond to `target`'s price: the cross-price elasticity, its standard
/// error and the weeks it rests on, from a regression of the rival's `ln units` on its own and
/// the target's log prices over the weeks the rival sold (both series over the same weeks);
/// `None` with fewer than [`MIN_OWN_WEEKS`] such weeks or prices that never moved. Positive:
/// the rival sells more when the target's price rises (a substitute).
pub fn cross_elasticity(rival: &[Week], target: &[Week]) -> Option<(f64, f64, usize)> {
    let target_price: std::collections::HashMap<i64, f64> =
        target.iter().map(|w| (w.week, w.price)).collect();
    let rows: Vec<Observation> = rival
        .iter()
        .filter(|w| w.units > 0.0 && w.price > 0.0)
        .filter_map(|w| {
            let other = *target_price.get(&w.week)?;
            (other > 0.0).then(|| Observation {
                group: 0,
                log_units: w.units.ln(),
                x: vec![w.price.ln(), other.ln()],
            })
        })
        .collect();
    if rows.len() < MIN_OWN_WEEKS {
        return None;
    }
    let fit = fit(&["ln_price", "ln_target_price"], &rows).ok()?;
    let (e, se) = fit.get("ln_target_price")?;
    Some((e, se, fit.rows))
}

/// The 80 % two-sided normal quantile.
const Z80: f64 = 1.2816;

/// Units, revenue and margin at `new_price` against `price` now, selling `units_now` a week,
/// with own-price elasticity `elasticity ± se` and, when known, the unit cost.
pub fn what_if(
    units_now: f64,
    price: f64,
    new_price: f64,
    (elasticity, se): (f64, f64),
    unit_cost: Option<f64>,
) -> WhatIf {
    let ratio = (new_price / price).ln();
    let at = |e: f64| units_now * (e * ratio).exp();
    let units_new = at(elasticity);
    let (a, b) = (at(elasticity - Z80 * se), at(elasticity + Z80 * se));
    WhatIf {
        units_now,
        units_new,
        units_interval: [a.min(b), a.max(b)],
        revenue: [units_now * price, units_new * new_price],
        margin: unit_cost.map(|c| [units_now * (price - c), units_new * (new_price - c)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_elasticity_is_found_within_groups() {
        // Two stores of very different size; units fall 2.5 % per 1 % of price, rise with a deal.
        let mut rows = Vec::new();
        for group in 0..2u64 {
            for week in 0..60 {
                let log_price = (1.0 + 0.3 * ((week * 7 % 11) as f64 / 10.0)).ln();
                let deal = f64::from(week % 4 == 0);
                let noise = ((week * 31 % 17) as f64 - 8.0) / 200.0;
                rows.push(Observation {
                    group,
                    log_units: 3.0 * group as f64 + 5.0 - 2.5 * log_price + 0.4 * deal + noise,
                    x: vec![log_price, deal],
                });
            }
        }
        let fit = fit(&["log_price", "deal"], &rows).unwrap();
        let (e, se) = fit.get("log_price").unwrap();
        assert!((e + 2.5).abs() < 0.1, "{fit:?}");
        assert!(se > 0.0 && se < 0.1, "{fit:?}");
        assert!((fit.get("deal").unwrap().0 - 0.4).abs() < 0.05);
    }

    #[test]
    fn a_substitute_sells_more_when_the_targets_price_rises() {
        let week = |week: i64, units: f64, price: f64| Week::sold(week, units, price);
        let target: Vec<Week> = (0..20)
            .map(|w| week(w, 10.0, 2.0 + 0.3 * ((w * 7 % 5) as f64)))
            .collect();
        let rival: Vec<Week> = target
            .iter()
            .map(|t| {
                let own = 3.0 + 0.2 * ((t.week * 3 % 4) as f64);
                let noise = ((t.week * 13 % 7) as f64 - 3.0) / 100.0;
                week(
                    t.week,
                    (4.0 + 0.8 * t.price.ln() - 1.5 * own.ln() + noise).exp(),
                    own,
                )
            })
            .collect();
        let (e, se, weeks) = cross_elasticity(&rival, &target).unwrap();
        assert_eq!(weeks, 20);
        assert!((e - 0.8).abs() < 0.1 && se < 0.1, "{e} ± {se}");
        // Too few weeks: no estimate.
        assert_eq!(cross_elasticity(&rival[..5], &target), None);
    }

    #[test]
    fn a_price_that_never_moves_is_refused() {
        let rows: Vec<Observation> = (0..30)
            .map(|w| Observation {
                group: 0,
                log_units: w as f64,
                x: vec![1.0],
            })
            .collect();
        assert!(matches!(
            fit(&["log_price"], &rows),
            Err(PricingError::TooLittleVariation { .. })
        ));
    }

    #[test]
    fn a_price_cut_sells_more_and_the_interval_holds_it() {
        let w = what_if(100.0, 2.0, 1.8, (-2.0, 0.25), Some(1.0));
        // 10 % cheaper at elasticity −2: (0.9)^−2 ≈ 1.235 × the units.
        assert!((w.units_new - 100.0 * 0.9f64.powf(-2.0)).abs() < 1e-9);
        assert!(w.units_interval[0] < w.units_new && w.units_new < w.units_interval[1]);
        assert_eq!(w.revenue[0], 200.0);
        let margin = w.margin.unwrap();
        assert_eq!(margin[0], 100.0);
        assert!((margin[1] - w.units_new * 0.8).abs() < 1e-9);
        assert!(
            (invert(&[4.0, 2.0, 2.0, 3.0], 2).unwrap()[0] - 3.0 / 8.0).abs() < 1e-12,
            "inverse of [[4,2],[2,3]]"
        );
    }
}
