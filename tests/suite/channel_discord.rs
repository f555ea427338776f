//! Discord end to end against a fake gateway (WebSocket) and REST API on 127.0.0.1
//! (tests/common/discord.rs), through serenity, with a scripted model: a direct message
//! conversation, a mention in an allowed guild channel, and a message in a channel not on the
//! allow-list ignored.

use crate::common;

use clerk::channel::discord::{DiscordChannel, DiscordConfig};
use clerk_testkit::scripted::Scripted;
use common::discord::{BOT_ID, FakeDiscord, TOKEN};
use common::{Db, tau2_store};
use std::time::Duration;

const DM: u64 = 900;
const ALLOWED: u64 = 901;
const OTHER: u64 = 902;
const GUILD: u64 = 800;
const ANN: u64 = 55;

#[tokio::test(flavor = "multi_thread")]
async fn direct_messages_and_allowed_mentions_are_answered_other_channels_ignored() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let fake = FakeDiscord::start().await;
    let config = DiscordConfig {
        token: TOKEN.into(),
        allowed_channels: vec![ALLOWED],
        api_proxy: Some(fake.proxy()),
        edit_interval: Duration::from_millis(100),
        outbox_retry: clerk::channel::OutboxRetry::default(),
    };
    let task = tokio::spawn(DiscordChannel::run(engine.clone(), config));
    fake.wait_for("IDENTIFY", FakeDiscord::identified).await;
    // READY reaches the handler before any message does (same socket, in order).
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A direct message.
    // Streamed slowly enough to be shown by edits.
    model.then([Scripted::SlowReply(
        "Hello Ann! How can I help?".into(),
        Duration::from_millis(80),
    )]);
    fake.message(10, DM, None, ANN, "hi", false);
    fake.wait_for("the DM reply", |f| {
        f.texts(DM) == ["Hello Ann! How can I help?"]
    })
    .await;
    assert!(
        fake.calls()
            .iter()
            .any(|(m, p)| m == "POST" && p == &format!("/channels/{DM}/typing"))
    );
    let dm = test
        .store
        .open_conversation("discord", &DM.to_string())
        .await
        .unwrap()
        .unwrap();
    let said: Vec<(String, String)> = test
        .store
        .messages(&dm.conversation_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.role.as_str().to_owned(), m.content))
        .collect();
    assert_eq!(
        said,
        [
            ("user".into(), "hi".into()),
            ("assistant".into(), "Hello Ann! How can I help?".into())
        ]
    );

    // A message in a channel not on the allow-list, even mentioning the bot: ignored.
    fake.message(
        11,
        OTHER,
        Some(GUILD),
        ANN,
        &format!("<@{BOT_ID}> hello?"),
        true,
    );
    // A message in the allowed channel that does not mention the bot: ignored too.
    fake.message(12, ALLOWED, Some(GUILD), ANN, "just chatting", false);
    // A mention in the allowed channel: answered there, as Ann's own conversation.
    model.then([Scripted::reply("Sure, we have yoga mats.")]);
    fake.message(
        13,
        ALLOWED,
        Some(GUILD),
        ANN,
        &format!("<@{BOT_ID}> do you sell yoga mats?"),
        true,
    );
    fake.wait_for("the mention's reply", |f| {
        f.texts(ALLOWED) == ["Sure, we have yoga mats."]
    })
    .await;
    let mention = test
        .store
        .open_conversation("discord", &format!("{ALLOWED}/{ANN}"))
        .await
        .unwrap()
        .unwrap();
    // serenity hands each event to its own task: give the ignored ones time to be (wrongly)
    // handled before checking that they were not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = &test.store.messages(&mention.conversation_id).await.unwrap()[0];
    assert_eq!(first.content, "do you sell yoga mats?");
    assert!(fake.texts(OTHER).is_empty());
    assert!(
        test.store
            .open_conversation("discord", &format!("{OTHER}/{ANN}"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(model.remaining(), 0);

    // A long reply is split at Discord's 2000 characters.
    let long = "Every parcel is tracked from our warehouse to your door. ".repeat(50);
    model.then([Scripted::reply(&long)]);
    fake.message(14, DM, None, ANN, "tell me about shipping", false);
    fake.wait_for("the long reply", |f| f.texts(DM).len() == 3)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = fake.texts(DM);
    assert!(
        texts[1..].iter().all(|t| t.chars().count() <= 2000),
        "{texts:?}"
    );
    assert_eq!(texts[1..].join(" "), long.trim());

    // `/human` as a slash command: the interaction is answered with the words, and the
    // conversation joins the staff queue.
    fake.slash_human(20, DM, ANN);
    fake.wait_for("the /human answer", |f| {
        !f.interaction_responses().is_empty()
    })
    .await;
    assert_eq!(
        fake.interaction_responses()[0],
        serde_json::json!({"type": 4, "data": {
            "content": "I've asked a member of our team to join this conversation. They will reply here as soon as they can.",
            "allowed_mentions": {"parse": [], "users": [], "roles": []},
            "attachments": []
        }})
    );
    let dm = test
        .store
        .open_conversation("discord", &DM.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dm.state,
        clerk::conversation::ConversationState::WaitingForStaff
    );
    // No message the bot sends or edits may ping anyone, whatever the model wrote.
    let writes = fake.message_writes();
    assert!(
        writes.iter().any(|(method, _)| method == "PATCH"),
        "{writes:?}"
    );
    for (method, body) in writes {
        assert_eq!(
            body["allowed_mentions"],
            serde_json::json!({"parse": [], "users": [], "roles": []}),
            "{method} {body}"
        );
    }
    task.abort();
}
