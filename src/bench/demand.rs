//! `clerk bench demand`: the demand forecast on Dominick's orange juice (83 stores × 11 brands,
//! weekly units, all brands' prices, deal and feature flags). For each store × brand, its last
//! 12 weeks with data are held out and forecast one step ahead (each from the weeks before it,
//! as sold, and its own planned price and promotion). WAPE (the summed absolute error over the
//! summed units) for clerk's model beside, in the same run on the same weeks, the naive last
//! week, the mean of the last 4 weeks and a linear model (ordinary least squares, linfa) on the
//! same features; and how often the weeks fell inside clerk's 80 % interval.

use clerk_core::forecast::features::{Row, WIDTH, Week, log_units, row, units_of};
use clerk_core::forecast::{DemandModel, Params};
use linfa::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

/// Weeks held out at the end of each series.
pub const HELD_OUT_WEEKS: usize = 12;

/// One store's weekly history of one brand.
#[derive(Debug, Clone)]
pub struct Series {
    /// The store's number.
    pub store: u32,
    /// The brand's number (1–11).
    pub brand: u32,
    /// Its weeks, in order.
    pub weeks: Vec<Week>,
}

/// One row of Dominick's orange juice: a store's week of one brand.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The store's number.
    pub store: u32,
    /// The brand (1–11).
    pub brand: u32,
    /// The week's number.
    pub week: i64,
    /// `ln units` sold.
    pub log_units: f64,
    /// The price per ounce of each of the 11 brands that week.
    pub prices: [f64; 11],
    /// 1 when the brand was on a deal.
    pub deal: f64,
    /// 1 when it was featured.
    pub feature: f64,
}

/// Reads Dominick's orange-juice CSV (`store,brand,week,logmove,constant,price1..price11,deal,
/// feat,profit`; `logmove` is the log of units sold, `priceN` brand N's price per ounce).
pub fn read_records(input: impl BufRead) -> anyhow::Result<Vec<Record>> {
    let mut reader = csv::Reader::from_reader(input);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow::anyhow!("not Dominick's orange juice: no {name} column"))
    };
    let (store, brand, week, logmove, deal, feat) = (
        col("store")?,
        col("brand")?,
        col("week")?,
        col("logmove")?,
        col("deal")?,
        col("feat")?,
    );
    let prices: Vec<usize> = (1..=11)
        .map(|b| col(&format!("price{b}")))
        .collect::<Result<_, _>>()?;
    let mut records = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record?;
        let num = |i: usize| -> anyhow::Result<f64> {
            record[i]
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("line {}: {} is not a number", line + 2, &record[i]))
        };
        let b = num(brand)? as u32;
        anyhow::ensure!(
            (1..=11).contains(&b),
            "line {}: brand {b} is not 1–11",
            line + 2
        );
        let mut all = [0.0; 11];
        for (slot, &i) in all.iter_mut().zip(&prices) {
            *slot = num(i)?;
        }
        records.push(Record {
            store: num(store)? as u32,
            brand: b,
            week: num(week)? as i64,
            log_units: num(logmove)?,
            prices: all,
            deal: num(deal)?,
            feature: num(feat)?,
        });
    }
    Ok(records)
}

/// Reads Dominick's CSV into one weekly series per store × brand (the brand's own price, the
/// mean of the 10 others' as its rivals').
pub fn read_dominicks(input: impl BufRead) -> anyhow::Result<Vec<Series>> {
    let mut by_series: BTreeMap<(u32, u32), Vec<Week>> = BTreeMap::new();
    for r in read_records(input)? {
        let own = r.prices[r.brand as usize - 1];
        let rivals = r.prices.iter().sum::<f64>() - own;
        by_series.entry((r.store, r.brand)).or_default().push(Week {
            week: r.week,
            units: r.log_units.exp(),
            price: own,
            deal: r.deal,
            feature: r.feature,
            rival_price: rivals / 10.0,
        });
    }
    Ok(by_series
        .into_iter()
        .map(|((store, brand), mut weeks)| {
            weeks.sort_by_key(|w| w.week);
            weeks.dedup_by_key(|w| w.week);
            Series {
                store,
                brand,
                weeks,
            }
        })
        .collect())
}

/// One method's error on the held-out weeks.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// What it is.
    pub method: &'static str,
    /// Σ|units − forecast| / Σ units.
    pub wape: f64,
    /// The mean absolute error, in units.
    pub mae: f64,
}

/// What `clerk bench demand` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile.
    pub profile: &'static str,
    /// The machine's available parallelism.
    pub threads: usize,
    /// The file read.
    pub data: String,
    /// Store × brand series.
    pub series: usize,
    /// Weeks read in all.
    pub weeks: usize,
    /// Weeks held out (forecast one step ahead).
    pub held_out_weeks: usize,
    /// Rows clerk's model was trained on.
    pub train_rows: usize,
    /// Trees kept by early stopping.
    pub trees: usize,
    /// Seconds to train clerk's model (both fits).
    pub train_seconds: f64,
    /// Clerk's first, then the peers.
    pub scores: Vec<Scores>,
    /// The share of held-out weeks inside clerk's 80 % interval.
    pub interval_coverage: f64,
    /// The bar this issue set.
    pub bar_wape: f64,
}

fn scores(method: &'static str, truth: &[f64], predicted: &[f64]) -> Scores {
    let errors: f64 = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).abs())
        .sum();
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    Scores {
        method,
        wape: round(errors / truth.iter().sum::<f64>()),
        mae: round(errors / truth.len() as f64),
    }
}

/// The least-squares line over the same rows (missing features read as 0: "at the level").
fn linear(train: &[(Row, f64)], test: &[Row]) -> anyhow::Result<Vec<f64>> {
    let matrix = |rows: &mut dyn Iterator<Item = &Row>, n: usize| {
        ndarray::Array2::from_shape_vec(
            (n, WIDTH),
            rows.flat_map(|r| r.features.map(|x| if x.is_finite() { x } else { 0.0 }))
                .collect(),
        )
    };
    let x = matrix(&mut train.iter().map(|(r, _)| r), train.len())?;
    let y = ndarray::Array1::from_iter(train.iter().map(|(_, y)| *y));
    let model = linfa_linear::LinearRegression::new().fit(&linfa::Dataset::new(x, y))?;
    let test_x = matrix(&mut test.iter(), test.len())?;
    let predicted = model.predict(&test_x);
    Ok(predicted
        .iter()
        .zip(test)
        .map(|(p, r)| units_of(r.level + p))
        .collect())
}

/// Runs the bench on Dominick's CSV `data` (gzipped or not).
pub fn run(data: &Path, params: Params) -> anyhow::Result<BenchResults> {
    let all = read_dominicks(clerk_core::import::open(data)?)?;
    let weeks: usize = all.iter().map(|s| s.weeks.len()).sum();
    let series: Vec<&Series> = all
        .iter()
        .filter(|s| s.weeks.len() > HELD_OUT_WEEKS + 4)
        .collect();
    let cut = |s: &Series| s.weeks.len() - HELD_OUT_WEEKS;
    let train_series: Vec<Vec<Week>> = series.iter().map(|s| s.weeks[..cut(s)].to_vec()).collect();

    eprintln!(
        "training the demand model on {} series' first weeks",
        train_series.len()
    );
    let started = Instant::now();
    let model = DemandModel::train(&train_series, params, |step| {
        eprintln!("  fit {step} of 2");
    })?;
    let train_seconds = started.elapsed().as_secs_f64();

    let mut truth = Vec::new();
    let mut rows = Vec::new();
    let mut naive = Vec::new();
    let mut mean4 = Vec::new();
    for s in &series {
        for at in cut(s)..s.weeks.len() {
            let r = row(&s.weeks, at).expect("held-out weeks have a past");
            truth.push(s.weeks[at].units);
            rows.push(r);
            naive.push(s.weeks[at - 1].units);
            let last4 = &s.weeks[at.saturating_sub(4)..at];
            mean4.push(last4.iter().map(|w| w.units).sum::<f64>() / last4.len() as f64);
        }
    }
    let clerk: Vec<f64> = model.predict_logs(&rows);
    let inside = clerk
        .iter()
        .zip(&truth)
        .filter(|(log, t)| {
            let l = log_units(**t) - **log;
            l >= model.error_quantiles[0] && l <= model.error_quantiles[1]
        })
        .count();
    let clerk: Vec<f64> = clerk.into_iter().map(units_of).collect();
    let train_rows: Vec<(Row, f64)> = train_series
        .iter()
        .flat_map(|weeks| {
            (0..weeks.len())
                .filter_map(|at| row(weeks, at).map(|r| (r, log_units(weeks[at].units) - r.level)))
        })
        .collect();
    let linear = linear(&train_rows, &rows)?;
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        data: data.display().to_string(),
        series: series.len(),
        weeks,
        held_out_weeks: truth.len(),
        train_rows: model.rows,
        trees: model.trees_kept(),
        train_seconds: (train_seconds * 100.0).round() / 100.0,
        scores: vec![
            scores("clerk (gradient-boosted trees, forust-ml)", &truth, &clerk),
            scores(
                "linear model on the same features (OLS, linfa)",
                &truth,
                &linear,
            ),
            scores("mean of the last 4 weeks", &truth, &mean4),
            scores("naive: last week", &truth, &naive),
        ],
        interval_coverage: (inside as f64 / truth.len() as f64 * 10_000.0).round() / 10_000.0,
        bar_wape: 0.42,
    })
}
