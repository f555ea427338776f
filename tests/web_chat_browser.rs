//! The web chat page in headless Chromium, as a shopper uses it: type a message, see the answer
//! stream in, reload the page and find the conversation still there. The answer comes from
//! a scripted model: this test is about the page; the real model has its own end-to-end test.

mod common;

use clerk::app::App;
use clerk::conversation::{Engine, EngineConfig};
use clerk::llm::scripted::{Scripted, ScriptedModel};
use clerk::prompts::Prompts;
use common::webdriver::Browser;
use common::{Db, tau2_store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const REPLY: &str =
    "Yes! Our Headphones come in blue, black and red, over-ear or in-ear, wired or wireless.";

async fn wait_for(browser: &Browser, script: &str, done: impl Fn(&Value) -> bool) -> Value {
    // Waits for the page, up to a generous bound; this is no timing assertion.
    for _ in 0..300 {
        let value = browser.run(script).await;
        if done(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never reached the expected state");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_chats_in_the_page_and_finds_the_conversation_after_a_reload() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let app = App::with_store(test.store.clone(), &settings).unwrap();
    let model = Arc::new(ScriptedModel::new([
        Scripted::Stall(Duration::from_millis(300)),
        Scripted::SlowReply(REPLY.into(), Duration::from_millis(150)),
    ]));
    let engine = Engine::new(
        test.store.clone(),
        app.tools.clone(),
        model,
        &Prompts::new(None),
        EngineConfig::default(),
    )
    .unwrap();
    let address = common::serve(app, Some(engine)).await;

    let browser = Browser::start().await;
    browser.open(&format!("http://{address}/chat")).await;
    wait_for(
        &browser,
        "return localStorage.getItem('clerk-conversation')",
        Value::is_string,
    )
    .await;
    browser
        .type_into("#text", "Do you sell wireless headphones?")
        .await;
    browser.click("#send").await;

    let bubbles = "return [...document.querySelectorAll('.msg')].map(e => e.className + ': ' + e.textContent)";
    // The answer appears as it is generated: first a part of it, then all of it.
    let partial = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2
                && a[1].as_str().is_some_and(|shown| {
                    shown.len() > "msg assistant: Yes!".len()
                        && format!("msg assistant: {REPLY}").starts_with(shown)
                })
        })
    })
    .await;
    assert_ne!(partial[1], format!("msg assistant: {REPLY}"));
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2 && a[1].as_str() == Some(&format!("msg assistant: {REPLY}"))
        })
    })
    .await;
    assert_eq!(shown[0], "msg user: Do you sell wireless headphones?");
    std::fs::write(test.dir.path().join("chat.png"), browser.screenshot().await).unwrap();

    // A reload shows the same conversation from the store.
    browser.open(&format!("http://{address}/chat")).await;
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(
        shown,
        serde_json::json!([
            "msg user: Do you sell wireless headphones?",
            format!("msg assistant: {REPLY}")
        ])
    );
    if let Ok(dir) = std::env::var("CLERK_SCREENSHOT_DIR") {
        std::fs::copy(
            test.dir.path().join("chat.png"),
            std::path::Path::new(&dir).join("web-chat.png"),
        )
        .unwrap();
    }
}
