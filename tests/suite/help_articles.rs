//! The store's help articles: the demo's folder searched by words and meaning with the real
//! sentence model, the folder read again when it changes, and `search_help` as a tool, called by
//! the engine itself when a shopper asks how the store works.

use crate::common;

use clerk::help::HelpArticles;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::embedder;
use serde_json::json;
use std::path::Path;

fn demo_help() -> HelpArticles {
    HelpArticles::new(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("help"),
        Some(embedder()),
    )
}

#[test]
fn the_demo_articles_answer_shoppers_questions() {
    let help = demo_help();
    for (question, article, section) in [
        ("do you ship to Canada?", "shipping-and-delivery.md", None),
        ("how do gift cards work?", "gift-cards.md", None),
        // Meaning, where the words differ: "money back", "send something back".
        (
            "can I get my money back if I send something back?",
            "returns-and-exchanges.md",
            Some("Returning items"),
        ),
        (
            "I want to swap my shoes for a bigger size",
            "returns-and-exchanges.md",
            Some("Exchanging items"),
        ),
        (
            "can I talk to a real person",
            "your-account.md",
            Some("Talking to a person"),
        ),
    ] {
        let found = help.search(question).unwrap();
        let first = found
            .first()
            .unwrap_or_else(|| panic!("{question:?}: nothing"));
        assert_eq!(
            (first.path.as_str(), first.section.as_deref()),
            (article, section),
            "{question:?}: {found:?}"
        );
        assert!(found.len() <= 3);
    }
    for question in ["hello", "what's the weather tomorrow", "is my data safe?"] {
        assert_eq!(help.search(question).unwrap(), vec![], "{question:?}");
    }
}

#[test]
fn the_folder_is_read_again_when_an_article_is_added_changed_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "gift-cards.md",
        "# Gift cards\n\nA gift card pays from its balance.\n",
    );
    let help = HelpArticles::new(dir.path(), Some(embedder()));
    assert!(help.search("do you ship to Canada?").unwrap().is_empty());
    write(
        "shipping.md",
        "# Shipping\n\nWe ship to Canada and the United States.\n",
    );
    let found = help.search("do you ship to Canada?").unwrap();
    assert_eq!(found[0].path, "shipping.md");
    assert_eq!(found[0].text, "We ship to Canada and the United States.");
    // A longer text, so that the change shows in the file's size whatever the clock's grain.
    write(
        "shipping.md",
        "# Shipping\n\nWe ship to the United States only, not to Canada or Mexico.\n",
    );
    assert_eq!(
        help.search("do you ship to Canada?").unwrap()[0].text,
        "We ship to the United States only, not to Canada or Mexico."
    );
    std::fs::remove_file(dir.path().join("shipping.md")).unwrap();
    assert!(help.search("do you ship to Canada?").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shoppers_question_is_answered_from_the_article_the_engine_found() {
    let test = common::tau2_store(common::Db::Sqlite).await;
    let mut settings = common::settings_for(&test);
    settings.help_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("help"));
    settings.global.embedding_model = common::embedding_model_dir();
    let app = clerk::app::App::with_store(test.store.clone(), &settings).unwrap();
    // The tool, as the agent and the tool API call it.
    let output = app
        .tools
        .call("search_help", json!({"query": "do you ship to Canada?"}))
        .await
        .unwrap();
    let output: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        output["passages"][0],
        json!({
            "title": "Shipping and delivery",
            "path": "shipping-and-delivery.md",
            "text": "We deliver to addresses in the United States only; we do not ship to Canada or other countries."
        })
    );
    assert_eq!(
        app.tools
            .call("search_help", json!({"query": "hello"}))
            .await
            .unwrap(),
        json!({"passages": [], "note": "no help article answers this"}).to_string()
    );
    // The engine searches the articles itself for a question about how the store works, so
    // that the model answers from the passage; the scripted model checks what it was shown.
    let model = std::sync::Arc::new(ScriptedModel::new([Scripted::With(Box::new(|request| {
        let seen: Vec<&str> = request
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert!(
            seen.iter()
                .any(|s| s.contains("we do not ship to Canada or other countries")),
            "{seen:?}"
        );
        assert!(request.tools.iter().any(|t| t.name == "search_help"));
        clerk::llm::ModelStep::Reply(
            "No: as our article \"Shipping and delivery\" says, we deliver to addresses in the United States only.".into(),
        )
    }))]));
    let engine = clerk::conversation::Engine::new(
        test.store.clone(),
        app.tools.clone(),
        model.clone(),
        &clerk::prompts::Prompts::new(None),
        clerk::conversation::EngineConfig::default(),
    )
    .unwrap();
    let id = engine
        .start("web", "shopper")
        .await
        .unwrap()
        .conversation_id;
    let outcome = engine
        .turn(&id, "Hi, do you ship to Canada?", &|_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome.reply.as_deref(),
        Some(
            "No: as our article \"Shipping and delivery\" says, we deliver to addresses in the United States only."
        )
    );
    assert_eq!(model.remaining(), 0);
    // A reply from an article that does not name it says where it comes from.
    model.then([Scripted::reply("Refunds to a gift card arrive at once.")]);
    let outcome = engine
        .turn(&id, "How long does a refund to a gift card take?", &|_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome.reply.as_deref(),
        Some("Refunds to a gift card arrive at once.\n\n(From our help article \"Gift cards\".)")
    );
    let messages = test.store.messages(&id).await.unwrap();
    let calls: Vec<serde_json::Value> = messages
        .iter()
        .filter_map(|m| m.tool_call.as_deref())
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    assert_eq!(
        calls,
        [
            json!({"name": "search_help", "arguments": {"query": "Hi, do you ship to Canada?"}, "by": "clerk"}),
            json!({"name": "search_help", "arguments": {"query": "How long does a refund to a gift card take?"}, "by": "clerk"}),
        ]
    );
}
