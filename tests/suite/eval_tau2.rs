//! `clerk eval tau2`'s scoring, with scripted models for the agent and the shopper: an agent
//! that does what task 88 asks (cancel order #W8835847 "ordered by mistake" on the shopper's yes,
//! once the engine has authenticated them by the email they gave) passes; one that only talks, and first tries to read the order before
//! authenticating, fails with the store differing where the reference cancelled — and the gate
//! it ran into is counted.
//!
//! The real model runs this command in the measurement (`clerk eval tau2`), not here:
//! ten tasks take an hour on a 2-core CPU.

use crate::common;

use clerk::eval::tau2::{self, EvalOptions, Players};
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::{Db, tau2_store};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_task_passes_only_when_the_store_ends_as_the_reference_leaves_it() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let tasks = tau2::parse_tasks(clerk::demo::TASKS).unwrap();
    assert_eq!(tasks.len(), 74);
    let task: Vec<_> = tasks.into_iter().filter(|t| t.id == "88").collect();
    assert!(task[0].instructions.contains("daiki.silva6295@example.com"));

    let agent = Arc::new(ScriptedModel::new([
        // The warm-up step, before any task (it computes the system message once).
        Scripted::reply("Hello!"),
        // Trial 0: the engine itself looks up the email the shopper gave and the order they
        // named, and lists the cancellation their message fixes whole; on "yes" it runs it and
        // says so: no model step.
        // Trial 1: a read before authentication (refused), then only words.
        Scripted::call("get_order_details", json!({"order_id": "#W8835847"})),
        Scripted::reply("Sorry, I cannot help with that."),
    ]));
    let shopper = Arc::new(ScriptedModel::new([
        Scripted::reply(
            "Hi, please cancel my order #W8835847, I ordered by mistake. My email is daiki.silva6295@example.com.",
        ),
        Scripted::reply("yes"),
        Scripted::reply("###STOP###"),
        Scripted::reply("Can you cancel an order for me?"),
        Scripted::reply("###STOP###"),
    ]));
    let scratch = tempfile::tempdir().unwrap();
    let progress = |_: &tau2::TrialResult| {};
    let report = tau2::run(
        &common::tau2_db(),
        &task,
        &Players {
            agent: agent.clone(),
            shopper: shopper.clone(),
        },
        &settings,
        scratch.path(),
        &EvalOptions {
            trials: 2,
            max_turns: 5,
            engine: clerk::conversation::EngineConfig::default(),
        },
        &progress,
    )
    .await
    .unwrap();
    assert_eq!((agent.remaining(), shopper.remaining()), (0, 0));

    let mut report = serde_json::to_value(&report).unwrap();
    report["seconds"] = json!(0);
    for result in report["results"].as_array_mut().unwrap() {
        result["seconds"] = json!(0);
    }
    assert_eq!(
        report,
        json!({
            "tasks": 1,
            "trials": 2,
            "pass_hat_k": [0.5, 0.0],
            "refused_calls": 1,
            "held_replies": 0,
            "escalations": 0,
            "seconds": 0,
            "results": [
                {
                    "task_id": "88", "trial": 0, "passed": true, "mismatch": null,
                    "ending": "shopper", "shopper_messages": 2,
                    "refused_calls": 0, "held_replies": 0, "seconds": 0
                },
                {
                    "task_id": "88", "trial": 1, "passed": false,
                    "mismatch": "$.orders.#W8835847.cancel_reason: null != \"ordered by mistake\"",
                    "ending": "shopper", "shopper_messages": 1,
                    "refused_calls": 1, "held_replies": 0, "seconds": 0
                }
            ]
        })
    );
}
