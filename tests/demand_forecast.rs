//! `forecast_demand` and `price_what_if` on a real dated history (every line of 150 Ta-Feng
//! customers): nothing before `clerk train`, then each week ahead with its interval and a price
//! cut's units and revenue; bad requests refused plainly, and a store without dated orders told
//! so.

mod common;

use common::run_clerk;
use serde_json::{Value, json};

fn tool(dir: &std::path::Path, database: &str, args: Value) -> (i32, Value, String) {
    call(dir, database, "forecast_demand", args)
}

fn call(dir: &std::path::Path, database: &str, name: &str, args: Value) -> (i32, Value, String) {
    let (code, stdout, stderr) = run_clerk(
        dir,
        &[
            "--database",
            database,
            "tool",
            name,
            "--args",
            &args.to_string(),
        ],
    );
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

#[test]
fn a_products_weeks_ahead_are_forecast_from_the_stores_dated_orders() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("store.db").display());
    let sample = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            &database,
            "import",
            "ta-feng",
            sample.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");

    // Before training: said plainly.
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 4}),
    );
    assert_eq!(code, 0);
    assert_eq!(output["ok"], false);
    assert!(
        output["error"]
            .as_str()
            .unwrap()
            .contains("no demand model is trained"),
        "{output}"
    );

    let (code, stdout, stderr) = run_clerk(dir.path(), &["--database", &database, "train"]);
    assert_eq!(code, 0, "{stderr}");
    let trained: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        trained["demand_model"]["rows"].as_u64().unwrap() > 1000,
        "{trained}"
    );

    // The sample's best-selling subclass, four weeks past the history's last (2001-02-09).
    let (code, output, stderr) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 4}),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output["ok"], true, "{output}");
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(answer["product_id"], "120103");
    assert_eq!(answer["interval"], "80%");
    assert!(answer["history_weeks"].as_u64().unwrap() >= 10, "{answer}");
    let weeks = answer["forecast"].as_array().unwrap();
    assert_eq!(weeks.len(), 4);
    let starts: Vec<&str> = weeks
        .iter()
        .map(|w| w["week_start"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|p| p[0] < p[1]) && starts[0] > "2001-02-01",
        "{starts:?}"
    );
    for w in weeks {
        let (low, units, high) = (
            w["low"].as_f64().unwrap(),
            w["units"].as_f64().unwrap(),
            w["high"].as_f64().unwrap(),
        );
        assert!(low <= units && units <= high && high > 0.0, "{w}");
    }
    // Wider further ahead.
    let width = |w: &Value| w["high"].as_f64().unwrap() - w["low"].as_f64().unwrap();
    assert!(width(&weeks[3]) >= width(&weeks[0]), "{weeks:?}");

    // Bad requests: a horizon of 10,000 weeks, an unknown product.
    let (code, _, stderr) = tool(
        dir.path(),
        &database,
        json!({"product_id": "120103", "weeks": 10000}),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("weeks"), "{stderr}");
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "nope", "weeks": 2}),
    );
    assert_eq!(code, 0);
    assert_eq!(output, json!({"ok": false, "error": "Product not found"}));
}

#[test]
fn a_store_without_dated_orders_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("store.db").display());
    let db = dir.path().join("db.json");
    std::fs::write(&db, common::tau2_db_json().to_string()).unwrap();
    let (code, _, stderr) = run_clerk(
        dir.path(),
        &[
            "--database",
            &database,
            "import",
            "tau2-retail",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, output, _) = tool(
        dir.path(),
        &database,
        json!({"product_id": "9523456873", "weeks": 4}),
    );
    assert_eq!(code, 0);
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["note"],
        "no sales history with dates: the store's orders carry no dates"
    );
    let (_, output, _) = call(
        dir.path(),
        &database,
        "price_what_if",
        json!({"product_id": "9523456873", "new_price": 10.0}),
    );
    let answer: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["note"],
        "no sales history with dates: the store's orders carry no dates"
    );
}
