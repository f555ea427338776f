//! `clerk bench fraud`: the tree model clerk's risk score trains once merchants have labelled
//! outcomes, on the ULB card-fraud data (284,807 transactions, 492 frauds; Time, V1–V28 from a
//! PCA, Amount, Class). A stratified 80/20 split with a fixed seed; 10 % of the training part is
//! held back for early stopping. AUPRC (average precision) and recall at 1 % false positives
//! beside logistic regression (linfa, standardised features) trained in the same run on the same
//! split. The store's own gate is measured beside it on the tau2 tasks ([`super::risk_gate`]).

use clerk_core::boost::{Loss, Params, Table, Trees};
use clerk_core::risk::metrics::{average_precision, recall_at_fpr};
use clerk_core::risk::model::Logistic;
use clerk_core::sentiment::train::stratified_split;
use serde::Serialize;
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

/// The split's seed.
pub const SEED: u64 = 42;

/// The transactions: features (Time, V1–V28, Amount) and whether each was fraud.
pub struct Transactions {
    /// One row each, in the file's column order.
    pub rows: Vec<Vec<f64>>,
    /// Fraud or not.
    pub fraud: Vec<bool>,
    /// The features' names.
    pub names: Vec<String>,
}

/// Reads the ULB CSV (a `Class` column, 1 = fraud; every other column a number).
pub fn read(input: impl BufRead) -> anyhow::Result<Transactions> {
    let mut reader = csv::Reader::from_reader(input);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let class = header
        .iter()
        .position(|h| h == "Class")
        .ok_or_else(|| anyhow::anyhow!("not the card-fraud file: no Class column"))?;
    let names = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != class)
        .map(|(_, h)| h.clone())
        .collect();
    let (mut rows, mut fraud) = (Vec::new(), Vec::new());
    for (line, record) in reader.records().enumerate() {
        let record = record?;
        let mut row = Vec::with_capacity(record.len() - 1);
        for (i, field) in record.iter().enumerate() {
            let x: f64 = field
                .trim()
                .trim_matches('"')
                .parse()
                .map_err(|_| anyhow::anyhow!("line {}: {field} is not a number", line + 2))?;
            if i == class {
                fraud.push(x == 1.0);
            } else {
                row.push(x);
            }
        }
        rows.push(row);
    }
    Ok(Transactions { rows, fraud, names })
}

/// One method's scores on the test part.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// What it is.
    pub method: &'static str,
    /// Average precision (area under the precision-recall curve).
    pub auprc: f64,
    /// The share of frauds caught when 1 % of legitimate transactions are flagged.
    pub recall_at_1pct_fpr: f64,
    /// Seconds to train.
    pub train_seconds: f64,
}

/// What `clerk bench fraud` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile.
    pub profile: &'static str,
    /// The machine's available parallelism.
    pub threads: usize,
    /// The file read.
    pub data: String,
    /// Transactions trained on (early-stopping part included), and frauds among them.
    pub train: [usize; 2],
    /// Transactions tested on, and frauds among them.
    pub test: [usize; 2],
    /// Trees kept by early stopping.
    pub trees: usize,
    /// Clerk's first.
    pub scores: Vec<Scores>,
    /// The bar this issue set for AUPRC.
    pub bar_auprc: f64,
    /// The store's risk gate on the tau2 reference tasks: how many legitimate writes each
    /// threshold would hold.
    pub tau2_gate: Option<super::risk_gate::GateEffect>,
}

/// The knobs of clerk's fraud trees.
pub fn params() -> Params {
    Params {
        loss: Loss::Logistic,
        max_trees: 1000,
        learning_rate: 0.05,
        max_depth: 6,
        min_leaf_weight: 1.0,
        patience: 80,
    }
}

fn scores(method: &'static str, truth: &[bool], p: &[f64], seconds: f64) -> Scores {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    Scores {
        method,
        auprc: round(average_precision(p, truth)),
        recall_at_1pct_fpr: round(recall_at_fpr(p, truth, 0.01)),
        train_seconds: (seconds * 100.0).round() / 100.0,
    }
}

/// Runs the bench on the ULB CSV `data` (gzipped or not).
pub fn run(data: &Path) -> anyhow::Result<BenchResults> {
    let all = read(clerk_core::import::open(data)?)?;
    let frauds = all.fraud.iter().filter(|f| **f).count();
    anyhow::ensure!(
        frauds >= 10 && all.fraud.len() - frauds >= 10,
        "{}: {} transactions, {frauds} frauds: too few of each to split and score",
        data.display(),
        all.fraud.len()
    );
    let labels: Vec<usize> = all.fraud.iter().map(|f| usize::from(*f)).collect();
    let (train_ix, test_ix) = stratified_split(&labels, 0.2, SEED);
    let train_labels: Vec<usize> = train_ix.iter().map(|&i| labels[i]).collect();
    let (fit_pos, held_pos) = stratified_split(&train_labels, 0.1, SEED + 1);
    let table = |ix: &mut dyn Iterator<Item = usize>| {
        let mut t = Table::new(all.names.len());
        let mut y = Vec::new();
        for i in ix {
            t.push(&all.rows[i]);
            y.push(labels[i] as f64);
        }
        (t, y)
    };
    let (fit_x, fit_y) = table(&mut fit_pos.iter().map(|&p| train_ix[p]));
    let (held_x, held_y) = table(&mut held_pos.iter().map(|&p| train_ix[p]));
    let (test_x, _) = table(&mut test_ix.iter().copied());
    let truth: Vec<bool> = test_ix.iter().map(|&i| all.fraud[i]).collect();

    eprintln!(
        "training the trees on {} transactions ({} held back)",
        fit_x.len(),
        held_x.len()
    );
    let started = Instant::now();
    let ones = |n: usize| vec![1.0; n];
    let trees = Trees::fit(
        &params(),
        (&fit_x, &fit_y, &ones(fit_x.len())),
        (&held_x, &held_y, &ones(held_x.len())),
    )?;
    let trees_seconds = started.elapsed().as_secs_f64();
    let clerk = trees.predict(&test_x);

    eprintln!("training logistic regression");
    let started = Instant::now();
    let rows = |ix: &[usize]| {
        ix.iter()
            .map(|&i| all.rows[i].as_slice())
            .collect::<Vec<_>>()
    };
    let train_labels: Vec<bool> = train_ix.iter().map(|&i| all.fraud[i]).collect();
    let line = Logistic::fit(&rows(&train_ix), &train_labels, 300)?;
    let baseline: Vec<f64> = rows(&test_ix).iter().map(|r| line.probability(r)).collect();
    let baseline_seconds = started.elapsed().as_secs_f64();
    let frauds = |ix: &[usize]| ix.iter().filter(|&&i| all.fraud[i]).count();
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        data: data.display().to_string(),
        train: [train_ix.len(), frauds(&train_ix)],
        test: [test_ix.len(), frauds(&test_ix)],
        trees: trees.kept,
        scores: vec![
            scores(
                "clerk (gradient-boosted trees, forust-ml)",
                &truth,
                &clerk,
                trees_seconds,
            ),
            scores(
                "logistic regression (linfa, standardised)",
                &truth,
                &baseline,
                baseline_seconds,
            ),
        ],
        bar_auprc: 0.84,
        tau2_gate: None,
    })
}
