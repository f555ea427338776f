//! `clerk bench demand`, `clerk bench pricing` and `clerk bench fraud` on small real subsets
//! committed as fixtures
//! (four stores of Dominick's orange juice; 2,000 ULB card transactions, 80 of them frauds): each
//! writes its JSON, clerk's model beats its peers trained in the same run, and a file of the
//! wrong kind is refused plainly.

use crate::common;

use common::run_clerk;
use serde_json::Value;

fn fixture(path: &str) -> String {
    format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn bench(kind: &str, data: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join(format!("{kind}.json"));
    let (code, stdout, stderr) = run_clerk(
        dir.path(),
        &[
            "bench",
            kind,
            "--data",
            &fixture(data),
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(written, serde_json::from_str::<Value>(&stdout).unwrap());
    written
}

fn score<'a>(results: &'a Value, method: &str) -> &'a Value {
    results["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["method"].as_str().unwrap().starts_with(method))
        .unwrap_or_else(|| panic!("no {method} in {results}"))
}

#[test]
fn demand_forecasts_beat_the_naive_mean_and_linear_peers_on_dominicks() {
    let results = bench("demand", "demand/dominicks_orange_juice_4_stores.csv.gz");
    // 4 stores × 11 brands, each one's last 12 weeks forecast.
    assert_eq!(results["series"], 44);
    assert_eq!(results["held_out_weeks"], 44 * 12);
    let wape = |m: &str| score(&results, m)["wape"].as_f64().unwrap();
    let (clerk, linear, mean4, naive) = (
        wape("clerk"),
        wape("linear"),
        wape("mean of the last 4"),
        wape("naive"),
    );
    assert!(
        clerk < linear && linear < mean4 && mean4 < naive,
        "{results}"
    );
    assert!(clerk < 0.6 * naive, "{results}");
    // The 80 % interval holds roughly 80 % of the weeks.
    let coverage = results["interval_coverage"].as_f64().unwrap();
    assert!((0.6..=0.95).contains(&coverage), "{results}");
}

#[test]
fn price_elasticities_are_negative_and_predict_moves_better_than_none_or_one() {
    let results = bench("pricing", "demand/dominicks_orange_juice_4_stores.csv.gz");
    let elasticities = results["elasticities"].as_array().unwrap();
    assert_eq!(elasticities.len(), 11);
    // Every brand sells less when dearer, within what a grocery brand does.
    assert_eq!(
        (
            results["not_negative"].as_u64(),
            results["not_plausible"].as_u64()
        ),
        (Some(0), Some(0)),
        "{results}"
    );
    for e in elasticities {
        assert!(e["se"].as_f64().unwrap() < 0.5, "{e}");
    }
    let mae = |m: &str| score(&results, m)["mae_log_change"].as_f64().unwrap();
    let (clerk, pooled, none) = (mae("clerk"), mae("one pooled"), mae("no elasticity"));
    assert!(clerk < pooled && pooled < none, "{results}");
    assert!(
        results["held_out_moves"].as_u64().unwrap() > 1000,
        "{results}"
    );
}

#[test]
fn fraud_trees_rank_frauds_above_logistic_regression() {
    let results = bench("fraud", "fraud/creditcard_sample.csv.gz");
    assert_eq!(results["train"], serde_json::json!([1600, 64]));
    assert_eq!(results["test"], serde_json::json!([400, 16]));
    let clerk = score(&results, "clerk");
    let logistic = score(&results, "logistic");
    let auprc = |s: &Value| s["auprc"].as_f64().unwrap();
    // The base rate is 0.04: both rank far above chance, the trees above the line.
    assert!(auprc(logistic) > 0.5, "{results}");
    assert!(auprc(clerk) > auprc(logistic), "{results}");
    assert!(
        clerk["recall_at_1pct_fpr"].as_f64().unwrap() >= 0.75,
        "{results}"
    );
}

#[test]
fn a_file_of_the_wrong_kind_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "bench",
            "demand",
            "--data",
            &fixture("fraud/creditcard_sample.csv.gz"),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not Dominick's orange juice: no store column"),
        "{stderr}"
    );
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "bench",
            "fraud",
            "--data",
            &fixture("demand/dominicks_orange_juice_4_stores.csv.gz"),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not the card-fraud file: no Class column"),
        "{stderr}"
    );
}
