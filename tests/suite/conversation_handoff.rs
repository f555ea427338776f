//! Human handoff as a state machine under concurrency, on SQLite and PostgreSQL: of many staff
//! taking one conversation at once exactly one does; only the owner replies or hands it back; the
//! bot never answers while staff own the conversation, even when the take races its turns; a
//! handoff in the middle of a turn cancels that turn's reply; the case summary is attached.

use crate::common;

use clerk::conversation::{ConversationState, Engine, EngineConfig, EngineError};
use clerk::prompts::Prompts;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::{Db, TestStore, tau2_store};
use std::sync::Arc;
use std::time::Duration;

async fn engine(db: Db, model: Arc<ScriptedModel>) -> (TestStore, Engine) {
    let test = tau2_store(db).await;
    let engine = Engine::new(
        test.store.clone(),
        test.tools(),
        model,
        &Prompts::new(None),
        EngineConfig::default(),
    )
    .unwrap();
    (test, engine)
}

async fn one_take_wins_and_only_the_owner_acts(db: Db) {
    let model = Arc::new(ScriptedModel::new([]));
    let (test, engine) = engine(db, model.clone()).await;
    let id = engine
        .start("web", "shopper")
        .await
        .unwrap()
        .conversation_id;
    // clerk asks who the shopper is, without the model.
    engine
        .turn(&id, "hi, order #W2378156 please", &|_| {})
        .await
        .unwrap();
    let asked = engine.ask_for_staff(&id, &|_| {}).await.unwrap();
    assert_eq!(asked.state, ConversationState::WaitingForStaff);

    // The summary is attached for whoever takes it.
    let record = test.store.conversation(&id).await.unwrap().unwrap();
    assert_eq!(
        record.handoff_summary.as_deref(),
        Some(
            "Why: the customer asked for a person\n\
             Customer: not authenticated, on web as shopper\n\
             Orders mentioned: #W2378156\n\
             Asked: \"hi, order #W2378156 please\"\n\
             Tried: nothing"
        )
    );

    // Thirty-two members of staff take it at once: exactly one does.
    let takes: Vec<_> = (0..32)
        .map(|i| {
            let engine = engine.clone();
            let id = id.clone();
            tokio::spawn(async move { engine.take(&id, &format!("staff-{i}")).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for take in takes {
        winners += usize::from(take.await.unwrap());
    }
    assert_eq!(winners, 1);
    let owner = test
        .store
        .conversation(&id)
        .await
        .unwrap()
        .unwrap()
        .assigned_to
        .unwrap();
    let other = if owner == "staff-0" {
        "staff-1"
    } else {
        "staff-0"
    };

    // Only the owner replies or hands back.
    assert!(matches!(
        engine.staff_reply(&id, other, "I'll help!").await,
        Err(EngineError::NotOwner(_))
    ));
    assert!(matches!(
        engine.hand_back(&id, other).await,
        Err(EngineError::NotOwner(_))
    ));
    engine
        .staff_reply(&id, &owner, "Hi, I'm Sam from the store.")
        .await
        .unwrap();

    // The shopper writes while staff own it: stored, not answered by the bot (the model is not
    // even asked: its script is empty and would fail).
    let outcome = engine.turn(&id, "thanks Sam", &|_| {}).await.unwrap();
    assert_eq!(
        (outcome.reply, outcome.state),
        (None, ConversationState::Staff)
    );

    // Handed back, the bot answers again.
    let words = engine.hand_back(&id, &owner).await.unwrap();
    model.then([Scripted::reply("Glad to help again.")]);
    let outcome = engine.turn(&id, "one more thing", &|_| {}).await.unwrap();
    assert_eq!(outcome.reply.as_deref(), Some("Glad to help again."));

    let shown: Vec<(String, String)> = common::transcript(&test, &id)
        .await
        .into_iter()
        .filter(|(role, _)| role != "system")
        .collect();
    let pair = |r: &str, t: &str| (r.to_owned(), t.to_owned());
    assert_eq!(
        shown,
        [
            pair("user", "hi, order #W2378156 please"),
            pair(
                "assistant",
                "I can help with that. First I need to confirm who you are: please give me the email address on your account, or your first and last name and your zip code."
            ),
            pair(
                "assistant",
                "I've asked a member of our team to join this conversation. They will reply here as soon as they can."
            ),
            pair("staff", "A member of our team has joined the conversation."),
            pair("staff", "Hi, I'm Sam from the store."),
            pair("user", "thanks Sam"),
            pair("assistant", &words),
            pair("user", "one more thing"),
            pair("assistant", "Glad to help again."),
        ]
    );

    // Closed: nothing more is taken or said.
    assert!(engine.close(&id).await.unwrap());
    assert!(!engine.take(&id, "staff-0").await.unwrap());
    assert!(matches!(
        engine.turn(&id, "hello?", &|_| {}).await,
        Err(EngineError::Closed(_))
    ));
    test.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_one_take_wins_and_only_the_owner_acts() {
    one_take_wins_and_only_the_owner_acts(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_one_take_wins_and_only_the_owner_acts() {
    one_take_wins_and_only_the_owner_acts(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_during_a_turn_cancels_its_reply() {
    let model = Arc::new(ScriptedModel::new([]));
    let (test, engine) = engine(Db::Sqlite, model.clone()).await;
    let id = engine
        .start("web", "shopper")
        .await
        .unwrap()
        .conversation_id;
    model.then([
        Scripted::Stall(Duration::from_millis(400)),
        Scripted::reply("Here is what I found."),
    ]);
    let turn = {
        let (engine, id) = (engine.clone(), id.clone());
        tokio::spawn(async move { engine.turn(&id, "do you ship abroad?", &|_| {}).await })
    };
    // The shopper asks for a person while the model is still working.
    tokio::time::sleep(Duration::from_millis(100)).await;
    engine.ask_for_staff(&id, &|_| {}).await.unwrap();
    let outcome = turn.await.unwrap().unwrap();
    assert_eq!(
        (outcome.reply, outcome.state),
        (None, ConversationState::WaitingForStaff)
    );
    let texts: Vec<String> = common::transcript(&test, &id)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert!(
        !texts.iter().any(|t| t == "Here is what I found."),
        "{texts:?}"
    );
}

/// Stress: turns race a take many times over; once the take is recorded, no message of the bot
/// ever follows it.
async fn the_bot_never_answers_a_staff_owned_conversation(db: Db) {
    let model = Arc::new(ScriptedModel::new([]));
    let (test, engine) = engine(db, model.clone()).await;
    for round in 0..12 {
        let id = engine
            .start("web", "shopper")
            .await
            .unwrap()
            .conversation_id;
        model.then([Scripted::reply("Hello there.")]);
        engine.turn(&id, "hi", &|_| {}).await.unwrap();
        // Ask for staff with the bot's turns racing: each may or may not reply before the take.
        let racing: Vec<_> = (0..4)
            .map(|i| {
                model.then([
                    Scripted::Stall(Duration::from_millis((round * 7 + i * 13) % 40)),
                    Scripted::reply("A bot reply."),
                ]);
                let (engine, id) = (engine.clone(), id.clone());
                tokio::spawn(async move { engine.turn(&id, "anyone?", &|_| {}).await })
            })
            .collect();
        engine.ask_for_staff(&id, &|_| {}).await.unwrap();
        assert!(engine.take(&id, "staff-a").await.unwrap());
        for turn in racing {
            turn.await.unwrap().unwrap();
        }
        let messages = common::transcript(&test, &id).await;
        let taken = messages
            .iter()
            .position(|(role, text)| role == "system" && text.starts_with("Taken by staff"))
            .unwrap();
        let after: Vec<_> = messages[taken..]
            .iter()
            .filter(|(role, _)| role == "assistant")
            .collect();
        assert!(
            after.is_empty(),
            "round {round}: the bot answered after the take: {after:?}"
        );
        // Drop what the cancelled turns never asked for.
        model.clear();
    }
    test.store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_the_bot_never_answers_a_staff_owned_conversation() {
    the_bot_never_answers_a_staff_owned_conversation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_the_bot_never_answers_a_staff_owned_conversation() {
    the_bot_never_answers_a_staff_owned_conversation(Db::Postgres).await;
}
