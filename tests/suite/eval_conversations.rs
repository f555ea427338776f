//! `clerk eval conversations`' checks, with a scripted agent: a conversation passes only when the
//! store, the tools that answered, the facts replied and the handoff are all as the case says, and
//! each failure is put down to its cause (no tool call, a wrong answer, a wrong store, an invalid
//! step, a handoff nobody asked for). The bundled suite parses and covers every job the issue
//! names.
//!
//! The real model runs this command for the README's figures, not here: the 47 conversations take
//! about an hour on a 2-core CPU.

use crate::common;

use clerk::conversation::EngineConfig;
use clerk::eval::conversations::{self, CaseResult};
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::{Db, tau2_store};
use serde_json::json;
use std::sync::Arc;

const SUITE: &str = r##"
[[conversation]]
id = "status"
job = "order status"
shopper = ["Hi! What's the status of my order #W2378156? My email is yusuf.rossi7301@example.com"]
customer = "yusuf_rossi_9620"
calls = ["find_user_id_by_email", "get_order_details"]
says = ["delivered"]

[[conversation]]
id = "stalls"
job = "return"
shopper = ["My email is yusuf.rossi7301@example.com. Please return the headphones from order #W2378156."]
customer = "yusuf_rossi_9620"
calls = ["return_delivered_order_items"]
says = ["return requested"]

[[conversation]]
id = "cancel"
job = "cancel"
shopper = ["My email is aarav.anderson9752@example.com. Please cancel order #W9300146, I no longer need it.", "Yes"]
customer = "aarav_anderson_8794"
calls = ["cancel_pending_order"]
says = ["cancelled"]
[[conversation.writes]]
name = "cancel_pending_order"
arguments = { order_id = "#W9300146", reason = "no longer needed" }

[[conversation]]
id = "wrong-reason"
job = "cancel"
shopper = ["My email is aarav.anderson9752@example.com. Please cancel order #W9300146.", "Yes"]
says = ["cancelled"]
[[conversation.writes]]
name = "cancel_pending_order"
arguments = { order_id = "#W9300146", reason = "no longer needed" }

[[conversation]]
id = "garbled"
job = "order status"
shopper = ["Hello, can you help me with something?"]

[[conversation]]
id = "person"
job = "ask for a person"
shopper = ["I'd like to talk to a human, please."]
calls = ["transfer_to_human_agents"]
handoff = true
"##;

fn by_id<'a>(results: &'a [CaseResult], id: &str) -> &'a CaseResult {
    results.iter().find(|r| r.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_conversation_is_checked_and_each_failure_has_its_cause() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let cases = conversations::parse_suite(SUITE).unwrap().conversation;
    let agent = Arc::new(ScriptedModel::new([
        // The warm-up step, before anything is timed.
        Scripted::reply("Hello!"),
        // status: the engine looked the shopper and the order up; the model answers from them.
        Scripted::reply("Your order #W2378156 was delivered."),
        // stalls: announces the return twice (told once to act), calls nothing (no refund
        // method named, so the engine lists nothing itself).
        Scripted::reply("I will now process the return of your headphones."),
        Scripted::reply("I will now process your return."),
        // cancel: the message fixes the cancellation whole, so the engine lists it itself, runs
        // it on the yes and says it is done: no model step.
        // wrong-reason: the wrong reason is listed and confirmed.
        Scripted::call(
            "cancel_pending_order",
            json!({"order_id": "#W9300146", "reason": "ordered by mistake"}),
        ),
        // garbled: two steps that are neither a reply nor a call.
        Scripted::Invalid("not JSON".into()),
        Scripted::Invalid("not JSON".into()),
        // person: the engine transfers without asking the model.
    ]));
    let scratch = tempfile::tempdir().unwrap();
    let report = conversations::run(
        &common::tau2_db(),
        &cases,
        agent.clone(),
        &settings,
        scratch.path(),
        &EngineConfig::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(agent.remaining(), 0, "the script was played to its end");

    let status = by_id(&report.results, "status");
    assert!(status.passed, "{status:#?}");
    assert_eq!(status.calls, ["find_user_id_by_email", "get_order_details"]);
    assert_eq!(status.first_words_seconds.len(), 1);
    assert_eq!(
        status.model_first_words_seconds, status.first_words_seconds,
        "the model wrote the answer"
    );

    let stalls = by_id(&report.results, "stalls");
    assert_eq!(
        json!(stalls.failures),
        json!([
            [
                "no_tool_call",
                "return_delivered_order_items never answered"
            ],
            ["wrong_answer", "no reply says \"return requested\""]
        ])
    );
    assert_eq!(stalls.replies, ["I will now process your return."]);

    let cancel = by_id(&report.results, "cancel");
    assert!(cancel.passed, "{cancel:#?}");
    assert_eq!(
        cancel.calls,
        [
            "find_user_id_by_email",
            "get_order_details",
            "cancel_pending_order"
        ]
    );

    let wrong = by_id(&report.results, "wrong-reason");
    assert_eq!(wrong.failures.len(), 1, "{wrong:#?}");
    assert_eq!(json!(wrong.failures[0].0), json!("wrong_store"));
    assert!(
        wrong.failures[0].1.contains("#W9300146")
            && wrong.failures[0].1.contains("ordered by mistake"),
        "{wrong:#?}"
    );

    let garbled = by_id(&report.results, "garbled");
    assert_eq!(json!(garbled.failures[0].0), json!("invalid_step"));

    let person = by_id(&report.results, "person");
    assert!(person.passed, "{person:#?}");
    assert_eq!(person.first_words_seconds.len(), 1);
    assert!(
        person.model_first_words_seconds.is_empty(),
        "the transfer took no model step"
    );

    assert!(report.results.iter().all(|r| r.violations.is_empty()));
    let summary = serde_json::to_value(&report).unwrap();
    assert_eq!(
        (
            &summary["conversations"],
            &summary["passed"],
            &summary["jobs"],
            &summary["failures"],
            &summary["violations"]
        ),
        (
            &json!(6),
            &json!(3),
            &json!({
                "ask for a person": [1, 1],
                "cancel": [1, 2],
                "order status": [1, 2],
                "return": [0, 1]
            }),
            &json!({"invalid_step": 1, "no_tool_call": 1, "wrong_answer": 1, "wrong_store": 1}),
            &json!(0)
        )
    );
    assert!(summary["median_first_words_seconds"].as_f64().is_some());
    assert!(
        summary["median_model_first_words_seconds"]
            .as_f64()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_suite_covers_every_job() {
    let suite = conversations::parse_suite(clerk::demo::CONVERSATIONS).unwrap();
    assert!(
        suite.conversation.len() >= 40,
        "{}",
        suite.conversation.len()
    );
    let mut jobs: Vec<&str> = suite.conversation.iter().map(|c| c.job.as_str()).collect();
    jobs.sort();
    jobs.dedup();
    assert_eq!(
        jobs,
        [
            "a wrong email first",
            "another language",
            "ask for a person",
            "attack",
            "cancel",
            "change an order's address",
            "change an order's items",
            "change an order's payment",
            "change the account's address",
            "cheapest or dearest",
            "delivery address",
            "exchange",
            "identify by name and zip",
            "identify first, ask after",
            "order items",
            "order status",
            "outside the store's scope",
            "product questions",
            "return",
            "search with a typo",
            "tracking"
        ]
    );
    // Every expected write is one the store accepts on the demo store (checked by running it, on
    // a fresh copy for each conversation).
    let mut writes = 0;
    for case in suite.conversation.iter().filter(|c| !c.writes.is_empty()) {
        let test = tau2_store(Db::Sqlite).await;
        let tools = test.tools();
        for write in &case.writes {
            let output = tools.call(&write.name, write.arguments.clone()).await;
            assert!(
                output.is_ok(),
                "{}: {} fails: {output:?}",
                case.id,
                write.name
            );
            writes += 1;
        }
    }
    assert!(writes >= 15, "{writes}");
    assert!(
        conversations::parse_suite("[[conversation]]\nid = \"a\"\njob = \"x\"\nshopper = []\n")
            .is_err()
    );
}
