//! A crash in the middle of a turn: the server dies while the model is thinking. After a restart,
//! the conversation and the shopper's message are intact, and the shopper gets an answer when
//! they come back.

use crate::common;

use clerk::app::App;
use clerk::config::Settings;
use clerk::conversation::{Engine, EngineConfig};
use clerk::prompts::Prompts;
use clerk::store::Store;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::{Db, http, sse_events, tau2_store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Starts clerk's HTTP server on `store` with a scripted model; returns its address.
async fn serve(store: Store, settings: &Settings, steps: Vec<Scripted>) -> std::net::SocketAddr {
    let app = App::with_store(store.clone(), settings).unwrap();
    let model = Arc::new(ScriptedModel::new(steps));
    let engine = Engine::new(
        store,
        app.tools.clone(),
        model,
        &Prompts::new(None),
        EngineConfig::default(),
    )
    .unwrap();
    common::serve(app, Some(engine)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_turn_loses_nothing_and_the_shopper_is_answered_after_restart() {
    let test = tau2_store(Db::Sqlite).await;
    let settings = common::settings_for(&test);
    let question = "Do your orders ship on weekends?";

    // The first server runs in a runtime of its own, so that it can die whole, mid-turn.
    let first = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (url, first_settings) = (test.url.clone(), settings.clone());
    let (address, id) = first
        .spawn(async move {
            let store = Store::connect(&url).await.unwrap();
            let address = serve(
                store,
                &first_settings,
                vec![Scripted::Stall(Duration::from_secs(3600))],
            )
            .await;
            let (_, body) = http(address, "POST", "/chat/api/conversations", Some("")).await;
            let id = serde_json::from_str::<Value>(&body).unwrap()["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned();
            (address, id)
        })
        .await
        .unwrap();
    let path = format!("/chat/api/conversations/{id}/messages");
    let body = json!({"text": question}).to_string();
    first.spawn(async move { http(address, "POST", &path, Some(&body)).await });
    // Once the message is stored, the model is "thinking" for an hour: crash now.
    for _ in 0..100 {
        if !test.store.messages(&id).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.shutdown_background();

    // Restarted: a new process would open the same database.
    let store = Store::connect(&test.url).await.unwrap();
    let reply = "I could not find you by that email. Could you check it for me?";
    let address = serve(
        store.clone(),
        &settings,
        vec![
            Scripted::call(
                "find_user_id_by_email",
                json!({"email": "nobody@example.com"}),
            ),
            Scripted::reply(reply),
        ],
    )
    .await;
    let (status, body) = http(
        address,
        "GET",
        &format!("/chat/api/conversations/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let history: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(history["state"], json!("bot"));
    assert_eq!(history["messages"].as_array().unwrap().len(), 1);
    assert_eq!(history["messages"][0]["text"], json!(question));

    // Coming back, the shopper's page asks for the answer that was lost with the crash.
    let (status, stream) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/resume"),
        Some(""),
    )
    .await;
    assert_eq!(status, 200);
    let events = sse_events(&stream);
    assert_eq!(
        events.last().unwrap(),
        &("done".to_owned(), json!({"reply": reply, "state": "bot"}))
    );
    let roles: Vec<String> = store
        .messages(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.role.as_str().to_owned())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);

    // A message the engine would refuse is refused before any stream starts, and not stored.
    let (status, body) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/messages"),
        Some(r#"{"text": "   "}"#),
    )
    .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            422,
            json!({"message": "the message is empty", "code": "invalid_message", "type": "invalid_request"})
        )
    );
    assert_eq!(store.messages(&id).await.unwrap().len(), 4);

    // Nothing left to answer: resuming again (a page reloaded while the answer was being made)
    // gives the answer already made, and runs nothing.
    let (_, stream) = http(
        address,
        "POST",
        &format!("/chat/api/conversations/{id}/resume"),
        Some(""),
    )
    .await;
    assert_eq!(
        sse_events(&stream),
        [
            ("delta".to_owned(), json!({"text": reply})),
            ("done".to_owned(), json!({"reply": reply, "state": "bot"}))
        ]
    );
    assert_eq!(store.messages(&id).await.unwrap().len(), 4);

    // A conversation whose shopper has not written yet has nothing to resume.
    let (_, body) = http(address, "POST", "/chat/api/conversations", Some("")).await;
    let fresh: Value = serde_json::from_str(&body).unwrap();
    let (_, stream) = http(
        address,
        "POST",
        &format!(
            "/chat/api/conversations/{}/resume",
            fresh["conversation_id"].as_str().unwrap()
        ),
        Some(""),
    )
    .await;
    assert_eq!(
        sse_events(&stream),
        [("done".to_owned(), json!({"reply": null, "state": null}))]
    );
}
