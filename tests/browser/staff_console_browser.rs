//! The staff console in headless Chromium, with the shopper on (fake) Telegram: a member of
//! staff signs in, sees the shopper's `/human` arrive in the queue live, takes the conversation,
//! replies — the reply reaches the shopper's Telegram chat — labels the outcome of a write the
//! risk gate scored, hands it back, and the bot answers the shopper's next message.

use crate::common;

use clerk::channel::telegram::TelegramChannel;
use clerk_testkit::scripted::Scripted;
use common::telegram::{FakeTelegram, Waits};
use common::webdriver::{Browser, sign_in_to_console, wait_for};
use common::{Db, tau2_store};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHAT: i64 = 777;

#[tokio::test(flavor = "multi_thread")]
async fn staff_take_a_telegram_conversation_reply_and_hand_it_back() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    clerk::accounts::add_account(&test.store, "sam", "sam-password-1", "staff")
        .await
        .unwrap();
    let fake = FakeTelegram::start().await.unwrap();
    let telegram = Arc::new(TelegramChannel::new(
        engine.clone(),
        common::telegram::config(&fake, Duration::from_millis(100)),
    ));
    let running = telegram.clone();
    let task = tokio::spawn(async move { running.run().await.unwrap() });
    let address = common::serve_all(&test, engine.clone(), None).await;

    let browser = Browser::start().await;
    sign_in_to_console(&browser, address, "sam", "sam-password-1", "staff").await;

    // The shopper writes on Telegram (clerk asks who they are, without the model), then asks
    // for a person: it appears in the queue, live.
    fake.push(FakeTelegram::text_update(1, CHAT, "my parcel is late"));
    fake.wait_for("the bot's reply", |f| f.texts(CHAT).len() == 1)
        .await;
    let asked = Instant::now();
    fake.push(FakeTelegram::text_update(2, CHAT, "/human"));
    let waiting = "return [...document.querySelectorAll('#queue li')].filter(li => li.dataset.state === 'waiting_for_staff').map(li => li.dataset.id)";
    let ids = wait_for(&browser, waiting, |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    eprintln!(
        "handoff latency (Telegram /human to the console's queue showing it): {} ms",
        asked.elapsed().as_millis()
    );
    let id = ids[0].as_str().unwrap().to_owned();
    let badge = browser
        .run("return document.getElementById('badge').textContent")
        .await;
    assert_eq!(badge, "1");

    // Open it: the summary and the transcript are there; take it and reply.
    browser.click(&format!("#queue li[data-id='{id}']")).await;
    let summary = wait_for(
        &browser,
        "return document.getElementById('summary').textContent",
        |v| v.as_str().is_some_and(|s| s.starts_with("Why:")),
    )
    .await;
    assert!(
        summary
            .as_str()
            .unwrap()
            .contains("Asked: \"my parcel is late\""),
        "{summary}"
    );
    browser.click("#take").await;
    wait_for(
        &browser,
        "return document.getElementById('reply-send').disabled",
        |v| v == &Value::Bool(false),
    )
    .await;
    browser
        .type_into(
            "#reply-text",
            "Hi, Sam here. Let me check with the courier.",
        )
        .await;
    browser.click("#reply-send").await;
    fake.wait_for("staff's reply in Telegram", |f| {
        f.texts(CHAT).last().map(String::as_str)
            == Some("Hi, Sam here. Let me check with the courier.")
    })
    .await;
    assert_eq!(
        fake.texts(CHAT)[1..],
        [
            "I've asked a member of our team to join this conversation. They will reply here as soon as they can.".to_owned(),
            "A member of our team has joined the conversation.".to_owned(),
            "Hi, Sam here. Let me check with the courier.".to_owned(),
        ]
    );
    let transcript = wait_for(
        &browser,
        "return [...document.querySelectorAll('#transcript li')].map(li => li.className)",
        |v| {
            v.as_array()
                .is_some_and(|a| a.last().and_then(Value::as_str) == Some("staff"))
        },
    )
    .await;
    assert_eq!(transcript[0], "user");

    // A write the risk gate scored in this conversation shows under the summary; staff label
    // its outcome with one click, for the supervised risk model.
    test.store
        .record_risk(clerk::store::RiskRecord {
            assessment_id: String::new(),
            conversation_id: id.clone(),
            user_id: "yusuf_rossi_9620".into(),
            order_id: Some("#W2378156".into()),
            tool: "return_delivered_order_items".into(),
            arguments: serde_json::json!({"order_id": "#W2378156"}),
            score: 0.72,
            reasons: vec!["a gift-card refund of an order paid otherwise".into()],
            signals: Vec::new(),
            held: true,
            label: None,
            created_at: 0,
        })
        .await
        .unwrap();
    browser.click(&format!("#queue li[data-id='{id}']")).await;
    let risk = wait_for(
        &browser,
        "return [...document.querySelectorAll('#risks li')].map(li => li.textContent)",
        |v| v.as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    assert!(
        risk[0].as_str().unwrap().starts_with(
            "return delivered order items on #W2378156: risk 0.72, held for staff (a gift-card refund of an order paid otherwise)"
        ),
        "{risk}"
    );
    browser.click("#risks li .label-fraud").await;
    wait_for(
        &browser,
        "return document.querySelector('#risks li .label').textContent",
        |v| v == "labelled fraud",
    )
    .await;
    let labelled = test.store.labelled_risks().await.unwrap();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].label.as_deref(), Some("fraud"));

    // Hand back: the shopper is told, and the bot answers the next message.
    browser.click("#hand-back").await;
    fake.wait_for("the hand-back notice", |f| {
        f.texts(CHAT).last().map(String::as_str)
            == Some("You're back with the store's assistant. How else can I help?")
    })
    .await;
    model.then([Scripted::reply("Anything else I can do for you?")]);
    fake.push(FakeTelegram::text_update(3, CHAT, "thanks!"));
    fake.wait_for("the bot again", |f| {
        f.texts(CHAT).last().map(String::as_str) == Some("Anything else I can do for you?")
    })
    .await;
    let state = test.store.conversation(&id).await.unwrap().unwrap().state;
    assert_eq!(state, clerk::conversation::ConversationState::Bot);
    let actions: Vec<String> = test
        .store
        .actions(10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        ["sign_in", "take", "reply", "risk_label", "hand_back"]
    );
    task.abort();
}
