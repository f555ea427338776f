//! End to end with the real bundled model on the CPU, as the README's example goes: a shopper opens
//! the web chat over HTTP, asks for their order's status with their email, and gets the order's
//! real status, streamed as server-sent events as the model writes it; the stored conversation
//! holds every message, and the page's status says when the model is ready. He then asks what to
//! buy (the recommender's suggestions) and whether the store ships to Canada (the help article's
//! answer). Bounded by token
//! limits (each model step may generate at most a few hundred tokens, a turn at most eight
//! steps), not by timing assertions.

use crate::common;

use clerk::app::App;
use common::{Db, http, sse_events, tau2_store};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_asks_the_real_model_about_a_product_in_the_web_chat() {
    let _turn = crate::one_at_a_time().await;
    let test = tau2_store(Db::Sqlite).await;
    let mut settings = common::settings_for(&test);
    // The demo's help articles, searched with the sentence model.
    settings.help_dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("help"));
    settings.global.embedding_model = common::embedding_model_dir();
    assert!(
        settings.global.model.is_file(),
        "no model at {}: scripts/test fetches it with scripts/fetch-model",
        settings.global.model.display()
    );
    let app = App::with_store(test.store.clone(), &settings).unwrap();
    app.train_recommender(&settings).await.unwrap();
    let engine = app.engine(&settings).await.unwrap();
    let address = common::serve(app, Some(engine)).await;

    let (status, page) = http(address, "GET", "/chat", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<form id=\"form\">"));

    // The page's status says whether the model is still starting (it warms up in the
    // background from the start); a message sent now waits for it.
    let (status, body) = http(address, "GET", "/chat/api/status", None).await;
    assert_eq!(status, 200);
    let page_status: Value = serde_json::from_str(&body).unwrap();
    assert!(page_status["welcome"].as_str().unwrap().contains("email"));
    assert!(
        ["warming_up", "ready"].contains(&page_status["model"]["state"].as_str().unwrap()),
        "{body}"
    );

    let (status, body) = http(address, "POST", "/chat/api/conversations", Some("")).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let question =
        "Hi! What's the status of my order #W2378156? My email is yusuf.rossi7301@example.com";
    let (status, stream) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(&serde_json::json!({"text": question}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    let events = sse_events(&stream);
    let (last, done) = events.last().expect("a closing event");
    assert_eq!(last, "done", "{stream}");
    let reply = done["reply"].as_str().expect("a reply").to_owned();
    assert!(!reply.trim().is_empty());
    // What the page shows: the deltas, each `retract` (a held-back reply) clearing them.
    let mut streamed = String::new();
    for (event, data) in &events {
        match event.as_str() {
            "delta" => streamed.push_str(data["text"].as_str().unwrap()),
            "retract" => streamed.clear(),
            _ => {}
        }
    }
    assert_eq!(streamed, reply, "the deltas make up the reply");
    // A useful answer: the order's real status reached the shopper, and nobody was handed over.
    assert!(
        reply.to_lowercase().contains("delivered"),
        "the reply does not give the order's status: {reply:?}"
    );
    assert_eq!(done["state"], "bot", "{stream}");
    assert!(
        events.iter().filter(|(e, _)| e == "delta").count() > 1,
        "streamed in pieces"
    );

    // Every message is stored, in order: the question first, the reply last, and each tool call
    // followed by its result.
    let messages = test.store.messages(&id).await.unwrap();
    assert_eq!(
        (messages[0].role.as_str(), messages[0].content.as_str()),
        ("user", question)
    );
    let last = messages.last().unwrap();
    assert_eq!(
        (last.role.as_str(), last.content.as_str()),
        ("assistant", reply.as_str())
    );
    for (i, message) in messages.iter().enumerate() {
        if message.tool_call.is_some() {
            assert_eq!(
                messages[i + 1].role.as_str(),
                "tool",
                "a tool call without its result: {messages:#?}"
            );
        }
    }
    eprintln!("the model's steps: {messages:#?}");

    // The shopper's view of the history shows no tool traces.
    let (status, body) = http(
        address,
        "GET",
        &format!("/chat/api/conversations/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let history: Value = serde_json::from_str(&body).unwrap();
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);

    // He asks what to buy next: the recommender's suggestions, from his own orders, reach him.
    let reply = ask(address, &id, "What would you recommend I buy next?").await;
    let messages = test.store.messages(&id).await.unwrap();
    let call = messages
        .iter()
        .position(|m| {
            m.tool_call
                .as_ref()
                .is_some_and(|c| c.contains("\"recommend_products\""))
        })
        .expect("recommend_products was called");
    let output: Value = serde_json::from_str(&messages[call + 1].content).unwrap();
    assert_eq!(
        output["based_on"], "this customer's orders and what customers bought",
        "{output}"
    );
    let names: Vec<String> = output["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(
        names.iter().any(|name| reply.contains(name.as_str())),
        "the reply names none of the suggestions {names:?}: {reply:?}"
    );

    // He asks how the store works: the engine finds the help article, and the model answers
    // from it.
    let reply = ask(address, &id, "Do you ship to Canada?").await;
    let messages = test.store.messages(&id).await.unwrap();
    assert!(
        messages.iter().any(|m| m
            .tool_call
            .as_ref()
            .is_some_and(|c| c.contains("\"search_help\""))),
        "search_help was not called: {messages:#?}"
    );
    // The article's answer (the United States only, not Canada), and where it comes from.
    assert!(
        ["united states", "u.s.", "usa"]
            .iter()
            .any(|place| reply.contains(place))
            || (reply.contains("canada") && (reply.contains("not") || reply.starts_with("no"))),
        "the reply does not give the article's answer: {reply:?}"
    );
    assert!(reply.contains("shipping and delivery"), "{reply:?}");
    eprintln!("help reply: {reply}");
}

/// Sends the shopper's next message; returns the bot's whole reply, lower-cased, after checking
/// that the bot answered (nobody was handed over).
async fn ask(address: std::net::SocketAddr, id: &str, text: &str) -> String {
    let (status, stream) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(&serde_json::json!({ "text": text }).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    let events = sse_events(&stream);
    let (last, done) = events.last().expect("a closing event");
    assert_eq!(last, "done", "{stream}");
    assert_eq!(done["state"], "bot", "{stream}");
    done["reply"].as_str().expect("a reply").to_lowercase()
}
