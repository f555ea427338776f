//! `clerk bench pricing`: price elasticities on Dominick's orange juice. Every week where a
//! brand's price moved by more than 5 % from its previous week in a store is held out; on the
//! other weeks, each brand's `ln units` is regressed on the logs of all 11 brands' prices and its
//! deal and feature flags, within each store ([`clerk_core::pricing::fit`]). For each held-out move,
//! the units after it are predicted from the week before and the changes in prices and flags,
//! beside, in the same run on the same weeks, a no-elasticity baseline (units unchanged) and one
//! pooled elasticity for every brand (own price, the rivals' mean price, the flags). The own-price
//! elasticities per brand are reported with their standard errors, and how many are not negative
//! and plausible.

use super::demand::{Record, read_records};
use clerk_core::pricing::{Fit, Observation, fit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A held-out move: the price changed by more than this share.
pub const MOVE: f64 = 0.05;

/// The plausible range of an own-price elasticity for a grocery brand.
pub const PLAUSIBLE: [f64; 2] = [-6.0, -0.5];

/// One brand's own-price elasticity.
#[derive(Debug, Clone, Serialize)]
pub struct Elasticity {
    /// The brand (1–11).
    pub brand: u32,
    /// The elasticity.
    pub own: f64,
    /// Its standard error.
    pub se: f64,
    /// The brand whose price raises this one's units most (the largest positive cross
    /// elasticity), with it.
    pub closest_substitute: Option<(u32, f64)>,
    /// Rows it was estimated on.
    pub rows: usize,
}

/// One method's error on the held-out moves.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// What it is.
    pub method: &'static str,
    /// The mean absolute error of the predicted change in `ln units`.
    pub mae_log_change: f64,
    /// Σ|units − predicted| / Σ units over the moves.
    pub wape: f64,
}

/// What `clerk bench pricing` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile.
    pub profile: &'static str,
    /// The file read.
    pub data: String,
    /// Store-brand-weeks read.
    pub weeks: usize,
    /// Price moves held out.
    pub held_out_moves: usize,
    /// Clerk's per-brand elasticities first, then the peers.
    pub scores: Vec<Scores>,
    /// Per brand.
    pub elasticities: Vec<Elasticity>,
    /// Brands whose own-price elasticity is not negative.
    pub not_negative: usize,
    /// Brands whose own-price elasticity is outside [`PLAUSIBLE`].
    pub not_plausible: usize,
    /// The one pooled own-price elasticity, with its standard error.
    pub pooled: (f64, f64),
}

fn brand_row(r: &Record) -> Vec<f64> {
    let mut x: Vec<f64> = r.prices.iter().map(|p| p.ln()).collect();
    x.push(r.deal);
    x.push(r.feature);
    x
}

fn pooled_row(r: &Record) -> Vec<f64> {
    let own = r.prices[r.brand as usize - 1];
    let rivals = (r.prices.iter().sum::<f64>() - own) / 10.0;
    vec![own.ln(), rivals.ln(), r.deal, r.feature]
}

/// The predicted change in `ln units` from `before` to `after` under `fit` with rows `row`.
fn change(fit: &Fit, row: fn(&Record) -> Vec<f64>, before: &Record, after: &Record) -> f64 {
    row(after)
        .iter()
        .zip(row(before))
        .zip(&fit.coefficients)
        .map(|((a, b), c)| c * (a - b))
        .sum()
}

fn scores(method: &'static str, truth: &[(f64, f64)], predicted: &[f64]) -> Scores {
    // truth: (ln units before, ln units after); predicted: the change.
    let n = truth.len() as f64;
    let mae = truth
        .iter()
        .zip(predicted)
        .map(|((b, a), p)| ((a - b) - p).abs())
        .sum::<f64>()
        / n;
    let errors: f64 = truth
        .iter()
        .zip(predicted)
        .map(|((b, a), p)| (a.exp() - (b + p).exp()).abs())
        .sum();
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    Scores {
        method,
        mae_log_change: round(mae),
        wape: round(errors / truth.iter().map(|(_, a)| a.exp()).sum::<f64>()),
    }
}

/// Runs the bench on Dominick's CSV `data`.
pub fn run(data: &Path) -> anyhow::Result<BenchResults> {
    let records = read_records(clerk_core::import::open(data)?)?;
    let mut series: BTreeMap<(u32, u32), Vec<&Record>> = BTreeMap::new();
    for r in &records {
        series.entry((r.store, r.brand)).or_default().push(r);
    }
    // (before, after) of each held-out move; every other week trains.
    let mut moves: Vec<(&Record, &Record)> = Vec::new();
    let mut train: Vec<&Record> = Vec::new();
    for weeks in series.values_mut() {
        weeks.sort_by_key(|r| r.week);
        for (i, r) in weeks.iter().enumerate() {
            let own = |r: &Record| r.prices[r.brand as usize - 1];
            match i.checked_sub(1).map(|j| weeks[j]) {
                Some(before) if (own(r) / own(before) - 1.0).abs() > MOVE => {
                    moves.push((before, r));
                }
                _ => train.push(r),
            }
        }
    }
    let mut names: Vec<String> = (1..=11).map(|b| format!("ln_price{b}")).collect();
    names.extend(["deal".to_owned(), "feature".to_owned()]);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut fits: BTreeMap<u32, Fit> = BTreeMap::new();
    for brand in 1..=11 {
        let rows: Vec<Observation> = train
            .iter()
            .filter(|r| r.brand == brand)
            .map(|r| Observation {
                group: u64::from(r.store),
                log_units: r.log_units,
                x: brand_row(r),
            })
            .collect();
        fits.insert(brand, fit(&names, &rows)?);
    }
    let pooled_rows: Vec<Observation> = train
        .iter()
        .map(|r| Observation {
            group: u64::from(r.store) * 16 + u64::from(r.brand),
            log_units: r.log_units,
            x: pooled_row(r),
        })
        .collect();
    let pooled = fit(
        &["ln_price", "ln_rivals_price", "deal", "feature"],
        &pooled_rows,
    )?;

    let truth: Vec<(f64, f64)> = moves
        .iter()
        .map(|(b, a)| (b.log_units, a.log_units))
        .collect();
    let clerk: Vec<f64> = moves
        .iter()
        .map(|(b, a)| change(&fits[&a.brand], brand_row, b, a))
        .collect();
    let one: Vec<f64> = moves
        .iter()
        .map(|(b, a)| change(&pooled, pooled_row, b, a))
        .collect();
    let none = vec![0.0; moves.len()];
    let elasticities: Vec<Elasticity> = fits
        .iter()
        .map(|(&brand, f)| {
            let (own, se) = f
                .get(&format!("ln_price{brand}"))
                .expect("a column per brand");
            let closest_substitute = (1..=11u32)
                .filter(|&b| b != brand)
                .map(|b| (b, f.coefficients[b as usize - 1]))
                .filter(|(_, c)| *c > 0.0)
                .max_by(|x, y| x.1.total_cmp(&y.1));
            let round = |x: f64| (x * 1000.0).round() / 1000.0;
            Elasticity {
                brand,
                own: round(own),
                se: round(se),
                closest_substitute: closest_substitute.map(|(b, c)| (b, round(c))),
                rows: f.rows,
            }
        })
        .collect();
    Ok(BenchResults {
        profile: super::profile(),
        data: data.display().to_string(),
        weeks: records.len(),
        held_out_moves: moves.len(),
        scores: vec![
            scores(
                "clerk (per-brand own and cross elasticities)",
                &truth,
                &clerk,
            ),
            scores("one pooled elasticity", &truth, &one),
            scores("no elasticity (units unchanged)", &truth, &none),
        ],
        not_negative: elasticities.iter().filter(|e| e.own >= 0.0).count(),
        not_plausible: elasticities
            .iter()
            .filter(|e| !(PLAUSIBLE[0]..=PLAUSIBLE[1]).contains(&e.own))
            .count(),
        elasticities,
        pooled: pooled.get("ln_price").expect("the pooled own price"),
    })
}
