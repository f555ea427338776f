//! `clerk eval merchant` on the real Ta-Feng sample: with the reference agent (each question's
//! own tool call, and a reply quoting its figures), every one of the bundled questions is
//! answered by the right tool, with every figure its own SQL computes and a chart where one was
//! asked — which checks the merchant tools' figures against SQL written apart from them, and
//! the eval's plumbing, on every run. A model that states a wrong figure, or answers without
//! the tool, is marked so.

use crate::common;

use clerk::eval::merchant::{self, Report};
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use serde_json::Value;
use std::sync::Arc;

#[test]
fn the_reference_answers_every_bundled_question_right_on_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("eval-merchant.json");
    let sample = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let (code, _, stderr) = common::run_clerk(
        dir.path(),
        &[
            "--database",
            &format!("sqlite://{}", dir.path().join("unused.db").display()),
            "--embedding-model",
            dir.path().join("no-model").to_str().unwrap(),
            "eval",
            "merchant",
            "--reference",
            "--data",
            sample.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let failed: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] != true)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(report["questions"].as_u64().unwrap() >= 30, "{report}");
    assert_eq!(report["passed"], report["questions"]);
    assert_eq!(report["charts_asked"], 7);
    assert_eq!(report["charts_given"], 7);
    assert_eq!(report["agent"], "reference");
    // Each figure is a real one: December's revenue as the SQL found it, stated in the reply.
    let december = &report["results"][0];
    assert_eq!(december["id"], "december-revenue");
    let expected = december["figures"][0]["expected"].as_f64().unwrap();
    assert!(expected > 10_000.0, "{december}");
    assert!(
        december["reply"]
            .as_str()
            .unwrap()
            .contains(&format!("{expected}")),
        "{december}"
    );
    assert!(stderr.contains(&format!("{0} of {0} questions passed", report["questions"])));
}

/// Runs one bundled question with a scripted model.
async fn ask(id: &str, steps: Vec<Scripted>) -> Report {
    let file = common::fixtures().join("ta-feng/ta_feng_sample.csv");
    let history =
        clerk::import::ta_feng::read(clerk::import::open(&file).unwrap(), &mut |_| {}).unwrap();
    let snapshot = clerk::import::ta_feng::snapshot(&history.lines);
    let text = std::fs::read_to_string(common::fixtures().join("eval/merchant.toml")).unwrap();
    let mut questions = merchant::parse_suite(&text).unwrap().question;
    questions.retain(|q| q.id == id);
    let test = common::empty_store(common::Db::Sqlite).await;
    let scratch = tempfile::tempdir().unwrap();
    merchant::run(
        &snapshot,
        &questions,
        Arc::new(ScriptedModel::new(steps)),
        "scripted",
        &common::settings_for(&test),
        scratch.path(),
        &Default::default(),
        &|_| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_figure_or_a_missing_tool_is_marked() {
    let wrong = ask(
        "december-revenue",
        vec![
            Scripted::call(
                "sales_summary",
                serde_json::json!({"start": "2000-12", "end": "2000-12"}),
            ),
            Scripted::reply("December brought in 12,345.67."),
        ],
    )
    .await;
    let result = &wrong.results[0];
    assert!(result.tool_right);
    assert!(!result.figures_right);
    assert!(!result.passed);
    assert_eq!(wrong.passed, 0);

    let guessed = ask(
        "december-revenue",
        vec![Scripted::reply("I think December was a good month.")],
    )
    .await;
    assert!(!guessed.results[0].tool_right);
    assert_eq!(guessed.results[0].calls, Vec::<String>::new());

    // A chart asked for and not given: the right tool by week, but a summary without rows.
    let plain = ask(
        "weekly-december-chart",
        vec![
            Scripted::call(
                "sales_summary",
                serde_json::json!({"start": "2000-12", "end": "2000-12"}),
            ),
            Scripted::reply("Here is December."),
        ],
    )
    .await;
    assert!(plain.results[0].tool_right);
    assert!(plain.results[0].charts.is_empty());
    assert_eq!((plain.charts_asked, plain.charts_given), (1, 0));
}
