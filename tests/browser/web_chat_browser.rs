//! The web chat page in headless Chromium, as a shopper uses it: type a message, see the answer
//! stream in, reload the page and find the conversation still there. The answer comes from
//! a scripted model: this test is about the page; the real model has its own end-to-end test.

use crate::common;

use clerk::app::App;
use clerk::conversation::{Engine, EngineConfig};
use clerk::prompts::Prompts;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::webdriver::{Browser, wait_for};
use common::{Db, tau2_store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The engine over `app`'s tools, answering with the scripted `model`.
fn engine_on(test: &common::TestStore, app: &App, model: Arc<ScriptedModel>) -> Engine {
    Engine::new(
        test.store.clone(),
        app.tools.clone(),
        model,
        &Prompts::new(None),
        EngineConfig::default(),
    )
    .unwrap()
}

const REPLY: &str = "Yes! Our wireless headphones come over-ear, on-ear or in-ear, in several colours to choose from.";

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_chats_in_the_page_and_finds_the_conversation_after_a_reload() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let app = App::with_store(test.store.clone(), &settings).unwrap();
    let model = Arc::new(ScriptedModel::new([
        Scripted::Stall(Duration::from_millis(300)),
        Scripted::SlowReply(REPLY.into(), Duration::from_millis(150)),
    ]));
    let engine = engine_on(&test, &app, model);
    let address = common::serve(app, Some(engine)).await;

    let browser = Browser::start().await;
    browser.open(&format!("http://{address}/chat")).await;
    // The page greets the shopper first: what the assistant can do, and how to reach a person.
    let welcome = Prompts::new(None).replies().unwrap().web_welcome;
    let greeting = wait_for(
        &browser,
        "return [...document.querySelectorAll('.msg')].map(e => e.className + ': ' + e.textContent)",
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert_eq!(
        greeting,
        serde_json::json!([format!("msg welcome: {welcome}")])
    );
    assert!(welcome.contains("Talk to a person") && welcome.contains("email"));
    // A visitor who has not written has started no conversation.
    assert_eq!(
        browser
            .run("return localStorage.getItem('clerk-conversation')")
            .await,
        Value::Null
    );
    assert_eq!(test.store.conversations_version().await.unwrap().0, 0);
    browser
        .type_into("#text", "Do you sell wireless headphones?")
        .await;
    browser.click("#send").await;
    wait_for(
        &browser,
        "return localStorage.getItem('clerk-conversation')",
        Value::is_string,
    )
    .await;

    let bubbles = "return [...document.querySelectorAll('.msg:not(.welcome)')].map(e => e.className + ': ' + e.textContent)";
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

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_asks_for_a_person_is_answered_by_staff_and_handed_back() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let app = App::with_store(test.store.clone(), &settings).unwrap();
    // clerk asks who the shopper is itself: the model is not asked.
    let model = Arc::new(ScriptedModel::new([]));
    let engine = engine_on(&test, &app, model.clone());
    let address = common::serve(app, Some(engine.clone())).await;

    let browser = Browser::start().await;
    browser.open(&format!("http://{address}/chat")).await;
    let bubbles = "return [...document.querySelectorAll('.msg:not(.welcome)')].map(e => e.className + ': ' + e.textContent)";
    browser.type_into("#text", "My parcel never came").await;
    browser.click("#send").await;
    let id = wait_for(
        &browser,
        "return localStorage.getItem('clerk-conversation')",
        Value::is_string,
    )
    .await;
    let id = id.as_str().unwrap();
    // The bot's whole reply is shown (a request for a person while it is still being written
    // would cancel it, as it should).
    wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2
                && a[1].as_str()
                    == Some(
                        "msg assistant: I can help with that. First I need to confirm who you \
                         are: please give me the email address on your account, or your first \
                         and last name and your zip code.",
                    )
        })
    })
    .await;
    wait_for(
        &browser,
        "return document.querySelector('#send').disabled",
        |v| v == &Value::Bool(false),
    )
    .await;

    // The shopper asks for a person; staff take the conversation and reply.
    browser.click("#human").await;
    wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|b| b.as_str() == Some("msg note: A member of our team will reply here."))
        })
    })
    .await;
    assert!(engine.take(id, "sam").await.unwrap());
    engine
        .staff_reply(id, "sam", "Hi, Sam here. I'm checking with the courier.")
        .await
        .unwrap();
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.last().and_then(Value::as_str)
                == Some("msg staff: Hi, Sam here. I'm checking with the courier.")
        })
    })
    .await;
    assert_eq!(
        shown,
        serde_json::json!([
            "msg user: My parcel never came",
            "msg assistant: I can help with that. First I need to confirm who you are: please give me the email address on your account, or your first and last name and your zip code.",
            "msg assistant: I've asked a member of our team to join this conversation. They will reply here as soon as they can.",
            "msg staff: A member of our team has joined the conversation.",
            "msg staff: Hi, Sam here. I'm checking with the courier."
        ])
    );
    let button_hidden = browser
        .run("return document.getElementById('human').hidden")
        .await;
    assert_eq!(button_hidden, Value::Bool(true));

    // Handed back: the bot answers the next message.
    engine.hand_back(id, "sam").await.unwrap();
    model.then([Scripted::reply("Anything else I can do?")]);
    wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| a.len() == 6)
    })
    .await;
    browser.type_into("#text", "thanks").await;
    browser.click("#send").await;
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.last().and_then(Value::as_str) == Some("msg assistant: Anything else I can do?")
        })
    })
    .await;
    assert_eq!(shown.as_array().unwrap().len(), 8);
}

/// Opens a store's page, presses its chat button, and sends the next commands into the chat's
/// frame.
async fn open_embedded_chat(browser: &Browser, page: &str) {
    browser.open(page).await;
    wait_for(
        browser,
        "return !!document.getElementById('clerk-chat-button')",
        |v| v == &Value::Bool(true),
    )
    .await;
    browser.click("#clerk-chat-button").await;
    browser.enter_frame("#clerk-chat-frame").await;
}

/// A store's page on another origin embeds the chat with the script tag, passing its signed-in
/// customer's identity token: the bubble opens the chat in a frame, and the shopper's order is
/// answered without an email. A page of an origin not allowed cannot frame the chat.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_page_on_another_origin_embeds_the_chat_for_its_signed_in_customer() {
    use clerk::identity::token::{Claims, sign};
    use clerk::identity::{Identity, IdentityConfig};
    const SECRET: &str = "the-store-and-clerk-share-this-secret-0123456789";
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    model.then([Scripted::reply("Your order #W2378156 was delivered.")]);
    let engine = engine.with_identity(Identity::new(
        test.store.clone(),
        IdentityConfig {
            secret: Some(SECRET.into()),
            ..IdentityConfig::default()
        },
    ));
    // The store's site: one page, served on its own port; `localhost` is the allowed origin,
    // `127.0.0.1` (the same server under another name) is not.
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_port = site.local_addr().unwrap().port();
    let clerk_address = common::serve_embeddable(
        &test,
        engine,
        None,
        vec![format!("http://localhost:{site_port}")],
    )
    .await;
    let now = clerk::store::now_ms() / 1000;
    let token = sign(
        &Claims {
            sub: "yusuf_rossi_9620".into(),
            exp: now + 600,
            jti: "page-view-42".into(),
            nbf: None,
            iat: Some(now),
        },
        SECRET.as_bytes(),
    );
    let page = format!(
        "<!doctype html><html><head><title>Shop</title></head><body><h1>My account</h1>\
         <script src=\"http://{clerk_address}/chat/widget.js\" data-identity=\"{token}\" async></script>\
         </body></html>"
    );
    tokio::spawn(async move {
        axum::serve(
            site,
            axum::Router::new().route(
                "/",
                axum::routing::get(move || {
                    let page = page.clone();
                    async move { axum::response::Html(page) }
                }),
            ),
        )
        .await
        .unwrap()
    });

    let browser = Browser::start().await;
    open_embedded_chat(&browser, &format!("http://localhost:{site_port}/")).await;
    wait_for(&browser, "return !!document.getElementById('text')", |v| {
        v == &Value::Bool(true)
    })
    .await;
    // The token is not left in the frame's address.
    assert_eq!(browser.run("return location.hash").await, "");
    browser
        .type_into("#text", "What's the status of my order #W2378156?")
        .await;
    browser.click("#send").await;
    let bubbles = "return [...document.querySelectorAll('.msg:not(.welcome)')].map(e => e.className + ': ' + e.textContent)";
    // The turn is over when the page lets the shopper send again.
    wait_for(
        &browser,
        "return document.querySelector('#send').disabled",
        |v| v == &Value::Bool(false),
    )
    .await;
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array()
            .is_some_and(|a| a.len() == 2 && a[1] != "msg assistant: …")
    })
    .await;
    assert_eq!(
        shown,
        serde_json::json!([
            "msg user: What's the status of my order #W2378156?",
            "msg assistant: Your order #W2378156 was delivered."
        ])
    );
    let id = browser
        .run("return localStorage.getItem('clerk-conversation')")
        .await;
    let record = test
        .store
        .conversation(id.as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.authenticated_user.as_deref(),
        Some("yusuf_rossi_9620")
    );

    // The same page under an origin that is not allowed: the browser refuses to show the chat
    // in its frame (frame-ancestors).
    browser.leave_frames().await;
    open_embedded_chat(&browser, &format!("http://127.0.0.1:{site_port}/")).await;
    // Once the frame has loaded what the browser shows in it:
    let shown = wait_for(&browser, "return location.href", |v| {
        v.as_str().is_some_and(|href| href != "about:blank")
    })
    .await;
    assert!(!shown.as_str().unwrap().contains("/chat"), "{shown}");
    assert_eq!(
        browser
            .run("return !!document.getElementById('text')")
            .await,
        Value::Bool(false),
        "the chat must not render in a frame of an origin not allowed"
    );
}

/// A signed-in shopper asks what to buy next: the agent's `recommend_products` call runs on
/// their own orders, and the page shows the suggestion with its reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_asks_for_a_recommendation_and_sees_it_with_its_reason() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let app = App::with_store(test.store.clone(), &settings).unwrap();
    app.train_recommender(&settings).await.unwrap();
    // What the tool will answer, to script a reply that states it.
    let args = serde_json::json!({"user_id": "yusuf_rossi_9620", "limit": 3});
    let output: Value = serde_json::from_str(
        &app.tools
            .call("recommend_products", args.clone())
            .await
            .unwrap(),
    )
    .unwrap();
    let first = &output["suggestions"][0];
    let reply = format!(
        "From your orders: the {} (item {}), {}.",
        first["name"].as_str().unwrap(),
        first["item_id"].as_str().unwrap(),
        first["why"][0].as_str().unwrap()
    );
    let model = Arc::new(ScriptedModel::new([
        Scripted::call("recommend_products", args),
        Scripted::reply(&reply),
    ]));
    let engine = engine_on(&test, &app, model.clone());
    let address = common::serve(app, Some(engine)).await;

    let browser = Browser::start().await;
    browser.open(&format!("http://{address}/chat")).await;
    browser
        .type_into(
            "#text",
            "Hi, I'm yusuf.rossi7301@example.com. What should I buy next?",
        )
        .await;
    browser.click("#send").await;
    let bubbles = "return [...document.querySelectorAll('.msg:not(.welcome)')].map(e => e.className + ': ' + e.textContent)";
    let shown = wait_for(&browser, bubbles, |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2 && a[1].as_str() == Some(&format!("msg assistant: {reply}"))
        })
    })
    .await;
    assert_eq!(
        shown[0],
        "msg user: Hi, I'm yusuf.rossi7301@example.com. What should I buy next?"
    );
    // The suggestion is an item he can order, and the model was offered the tool.
    assert_eq!(first["available"], true);
    assert!(
        model
            .tools_offered()
            .iter()
            .all(|offered| offered.contains(&"recommend_products".to_owned()))
    );
}
