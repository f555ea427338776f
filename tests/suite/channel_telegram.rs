//! Telegram end to end against a fake Bot API server on 127.0.0.1 (tests/common/telegram.rs)
//! that speaks the real protocol, with a scripted model: a whole conversation (typing…, the
//! reply streamed by edits at a bounded rate, HTML escaped), a long reply split at 4096, a
//! redelivered update answered once, the polling offset kept across a restart, and `/human`
//! leading to the staff queue, with staff's reply reaching the chat and the bot answering again
//! after the hand-back.

use crate::common;

use clerk::channel::telegram::{TelegramChannel, TelegramConfig};
use clerk::conversation::Engine;
use clerk::store::Role;
use clerk_testkit::scripted::{Scripted, ScriptedModel};
use common::telegram::{FakeTelegram, Waits, config, open_conversation};
use common::{Db, TestStore, tau2_store};
use std::sync::Arc;
use std::time::Duration;

const CHAT: i64 = 4242;

struct Running {
    test: TestStore,
    engine: Engine,
    model: Arc<ScriptedModel>,
    fake: FakeTelegram,
    task: tokio::task::JoinHandle<()>,
}

fn run(
    engine: &Engine,
    fake: &FakeTelegram,
    edit_interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let channel = Arc::new(TelegramChannel::new(
        engine.clone(),
        config(fake, edit_interval),
    ));
    tokio::spawn(async move { channel.run().await.unwrap() })
}

async fn start(edit_interval: Duration) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("clerk=warn")
        .with_test_writer()
        .try_init();
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let fake = FakeTelegram::start().await.unwrap();
    let task = run(&engine, &fake, edit_interval);
    Running {
        test,
        engine,
        model,
        fake,
        task,
    }
}

#[tokio::test]
async fn a_conversation_streams_by_edits_escapes_html_and_shows_typing() {
    let interval = Duration::from_millis(300);
    let r = start(interval).await;
    let reply = "Hello Ann! I can help with <b>orders</b> & returns. Which order is it about?";
    r.model
        .then([Scripted::SlowReply(reply.into(), Duration::from_millis(60))]);
    r.fake.push(FakeTelegram::text_update(1, CHAT, "hi there"));
    r.fake
        .wait_for("the whole reply", |f| {
            f.texts(CHAT) == vec![reply.to_owned()]
        })
        .await;

    // Shown as plain text: sent in HTML mode with the markup escaped.
    let shown = r.fake.chat(CHAT);
    assert_eq!(shown[0].parse_mode.as_deref(), Some("HTML"));
    let sends = r.fake.calls("sendmessage");
    assert_eq!(sends.len(), 1, "one message, then edits");
    let edits = r.fake.calls("editmessagetext");
    assert!(!edits.is_empty(), "the reply grew by edits");
    let last = &edits.last().unwrap().body["text"];
    assert_eq!(
        last,
        "Hello Ann! I can help with &lt;b&gt;orders&lt;/b&gt; &amp; returns. Which order is it about?"
    );
    // Never faster than the interval (a little slack for the clock).
    let mut times = vec![sends[0].at];
    times.extend(edits.iter().map(|e| e.at));
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval.mul_f32(0.9),
            "two updates {:?} apart",
            pair[1] - pair[0]
        );
    }
    // typing… before the first word.
    let typing = r.fake.calls("sendchataction");
    assert_eq!(typing[0].body["action"], "typing");
    assert!(typing[0].at <= sends[0].at);

    // The conversation is stored as the shopper's.
    let record = open_conversation(&r.test, CHAT).await;
    let messages = r
        .test
        .store
        .messages(&record.conversation_id)
        .await
        .unwrap();
    let said: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(said, vec![("user", "hi there"), ("assistant", reply)]);

    // A second message continues the same conversation.
    r.model
        .then([Scripted::reply("Thanks! What is its order number?")]);
    r.fake.push(FakeTelegram::text_update(
        2,
        CHAT,
        "the one I placed last week",
    ));
    r.fake
        .wait_for("the second reply", |f| {
            f.texts(CHAT).get(1).map(String::as_str) == Some("Thanks! What is its order number?")
        })
        .await;
    assert_eq!(r.fake.texts(CHAT).len(), 2);
    assert_eq!(
        open_conversation(&r.test, CHAT).await.conversation_id,
        record.conversation_id
    );
    r.task.abort();
}

#[tokio::test]
async fn a_long_reply_is_split_at_telegrams_limit() {
    let r = start(Duration::from_millis(50)).await;
    let paragraph = "Our store ships every order with care and tracking. ".repeat(35);
    let reply = format!(
        "{}\n\n{}\n\n{}",
        paragraph.trim(),
        paragraph.trim(),
        paragraph.trim()
    );
    assert!(reply.len() > 4096);
    r.model.then([Scripted::reply(&reply)]);
    r.fake
        .push(FakeTelegram::text_update(1, CHAT, "tell me about shipping"));
    r.fake
        .wait_for("two messages", |f| {
            f.texts(CHAT).len() == 2
                && f.calls("editmessagetext").len() + f.calls("sendmessage").len() >= 2
        })
        .await;
    // Let any last edit land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = r.fake.texts(CHAT);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().all(|t| t.encode_utf16().count() <= 4096));
    assert_eq!(
        texts[0],
        format!("{}\n\n{}", paragraph.trim(), paragraph.trim())
    );
    assert_eq!(texts[1], paragraph.trim());
    r.task.abort();
}

#[tokio::test]
async fn a_redelivered_update_is_answered_once() {
    let r = start(Duration::from_millis(50)).await;
    r.model.then([Scripted::reply("Hello! How can I help?")]);
    let update = FakeTelegram::text_update(7, CHAT, "hello");
    r.fake.push(update.clone());
    r.fake
        .wait_for("the reply", |f| f.texts(CHAT).len() == 1)
        .await;
    // Telegram sends it again (its acknowledgement was lost); a model step is there to take
    // should clerk wrongly answer.
    r.model.then([Scripted::reply("A second answer.")]);
    let polls = r.fake.offsets().len();
    r.fake.redeliver(update);
    r.fake
        .wait_for("two more polls", |f| f.offsets().len() >= polls + 2)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        r.fake.texts(CHAT),
        vec!["Hello! How can I help?".to_owned()]
    );
    let record = open_conversation(&r.test, CHAT).await;
    let users = r
        .test
        .store
        .messages(&record.conversation_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::User)
        .count();
    assert_eq!(users, 1);
    assert_eq!(r.model.remaining(), 1, "the model was not asked again");
    r.task.abort();
}

#[tokio::test]
async fn the_offset_survives_a_restart() {
    let r = start(Duration::from_millis(50)).await;
    r.model.then([Scripted::reply("Hello!")]);
    r.fake.push(FakeTelegram::text_update(41, CHAT, "hello"));
    r.fake
        .wait_for("the reply", |f| f.texts(CHAT).len() == 1)
        .await;
    r.task.abort();
    assert_eq!(
        r.test
            .store
            .channel_cursor("telegram")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );
    // A new process on the same store asks Telegram for what follows update 41 only.
    let fake = FakeTelegram::start().await.unwrap();
    let task = run(&r.engine, &fake, Duration::from_millis(50));
    fake.wait_for("a poll", |f| !f.offsets().is_empty()).await;
    assert_eq!(fake.offsets()[0], 42);
    task.abort();
}

#[tokio::test]
async fn human_leads_to_the_staff_queue_and_staff_answer_in_the_chat() {
    let r = start(Duration::from_millis(50)).await;
    r.fake.push(FakeTelegram::text_update(1, CHAT, "/start"));
    r.fake
        .wait_for("the welcome", |f| f.texts(CHAT).len() == 1)
        .await;
    assert!(r.fake.texts(CHAT)[0].starts_with("Hello! I'm the store's assistant."));

    r.fake.push(FakeTelegram::text_update(2, CHAT, "/human"));
    r.fake
        .wait_for("the handoff notice", |f| f.texts(CHAT).len() == 2)
        .await;
    assert_eq!(
        r.fake.texts(CHAT)[1],
        "I've asked a member of our team to join this conversation. They will reply here as soon as they can."
    );
    let record = open_conversation(&r.test, CHAT).await;
    assert_eq!(
        record.state,
        clerk::conversation::ConversationState::WaitingForStaff
    );
    let queue = r
        .test
        .store
        .conversations_in(
            &[clerk::conversation::ConversationState::WaitingForStaff],
            10,
        )
        .await
        .unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].record.conversation_id, record.conversation_id);
    assert!(
        queue[0]
            .record
            .handoff_summary
            .as_deref()
            .unwrap()
            .starts_with("Why: the customer asked for a person")
    );

    // While staff have it, the bot says nothing (no model step is queued: asking would fail).
    r.fake
        .push(FakeTelegram::text_update(3, CHAT, "are you there?"));
    let id = record.conversation_id.clone();
    // Taken in (stored) before staff act on the conversation.
    for _ in 0..1000 {
        let messages = r.test.store.messages(&id).await.unwrap();
        if messages.iter().any(|m| m.content == "are you there?") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(r.engine.take(&id, "maria").await.unwrap());
    r.engine
        .staff_reply(&id, "maria", "Hi Ann, Maria here. I'll sort it out.")
        .await
        .unwrap();
    r.fake
        .wait_for("staff's reply", |f| f.texts(CHAT).len() == 4)
        .await;
    assert_eq!(
        r.fake.texts(CHAT)[2..],
        [
            "A member of our team has joined the conversation.".to_owned(),
            "Hi Ann, Maria here. I'll sort it out.".to_owned()
        ]
    );

    // Back to the bot: the shopper is told, and the bot answers the next message.
    r.engine.hand_back(&id, "maria").await.unwrap();
    r.fake
        .wait_for("the hand-back notice", |f| f.texts(CHAT).len() == 5)
        .await;
    assert_eq!(
        r.fake.texts(CHAT)[4],
        "You're back with the store's assistant. How else can I help?"
    );
    r.model
        .then([Scripted::reply("Of course. What else do you need?")]);
    r.fake
        .push(FakeTelegram::text_update(4, CHAT, "one more thing"));
    r.fake
        .wait_for("the bot's answer", |f| {
            f.texts(CHAT).get(5).map(String::as_str) == Some("Of course. What else do you need?")
        })
        .await;
    assert_eq!(r.fake.texts(CHAT).len(), 6);
    // The outbox is empty once delivered.
    assert!(
        r.test
            .store
            .claim_outbox("telegram", 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    r.task.abort();
}

/// Many shoppers at once through the fake Bot API: every update is answered exactly once, in
/// its own chat (`cargo bench --bench channels` measures the rate).
#[tokio::test(flavor = "multi_thread")]
async fn many_chats_at_once_each_get_exactly_their_answers() {
    const CHATS: i64 = 20;
    const PER_CHAT: i64 = 5;
    let r = start(Duration::from_millis(20)).await;
    let total = (CHATS * PER_CHAT) as usize;
    r.model
        .then((0..total).map(|_| Scripted::reply("Noted, thank you.")));
    for round in 0..PER_CHAT {
        for chat in 0..CHATS {
            let update = round * CHATS + chat + 1;
            r.fake.push(FakeTelegram::text_update(
                update,
                10_000 + chat,
                &format!("message {round}"),
            ));
        }
        // Each shopper waits for the answer before writing again.
        r.fake
            .wait_for("a round of answers", |f| {
                (0..CHATS).all(|c| f.texts(10_000 + c).len() as i64 == round + 1)
            })
            .await;
    }
    for chat in 0..CHATS {
        let record = open_conversation(&r.test, 10_000 + chat).await;
        let messages = r
            .test
            .store
            .messages(&record.conversation_id)
            .await
            .unwrap();
        let users: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(
            users,
            (0..PER_CHAT)
                .map(|i| format!("message {i}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(r.fake.texts(10_000 + chat).len() as i64, PER_CHAT);
    }
    r.task.abort();
}

/// Webhook mode: clerk registers its address and secret with Telegram, takes updates posted to
/// `POST /telegram/webhook` only with the secret, and answers a redelivered one once.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_updates_need_the_secret_and_are_answered_once() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, model) = common::scripted_engine(&test);
    let fake = FakeTelegram::start().await.unwrap();
    let mut config = config(&fake, Duration::from_millis(50));
    config.webhook_url = Some("https://shop.example/telegram/webhook".parse().unwrap());
    config.webhook_secret = Some("s3cret-webhook".into());
    let channel = Arc::new(TelegramChannel::new(engine.clone(), config));
    let running = channel.clone();
    let task = tokio::spawn(async move { running.run().await.unwrap() });
    fake.wait_for("setWebhook", |f| !f.calls("setwebhook").is_empty())
        .await;
    let registered = &fake.calls("setwebhook")[0].body;
    assert_eq!(registered["url"], "https://shop.example/telegram/webhook");
    assert_eq!(registered["secret_token"], "s3cret-webhook");
    assert!(
        fake.calls("getupdates").is_empty(),
        "no polling in webhook mode"
    );

    let address = common::serve_all(&test, engine.clone(), Some(channel)).await;
    let update = FakeTelegram::text_update(5, CHAT, "hello by webhook").to_string();
    let post = |secret: Option<&'static str>| {
        let update = update.clone();
        async move {
            let mut request = reqwest::Client::new()
                .post(format!("http://{address}/telegram/webhook"))
                .header("content-type", "application/json")
                .body(update);
            if let Some(secret) = secret {
                request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(post(None).await, 401);
    assert_eq!(post(Some("wrong")).await, 401);
    assert!(
        test.store
            .open_conversation("telegram", &CHAT.to_string())
            .await
            .unwrap()
            .is_none()
    );

    model.then([Scripted::reply("Hello! Webhooks work.")]);
    assert_eq!(post(Some("s3cret-webhook")).await, 200);
    fake.wait_for("the reply", |f| f.texts(CHAT) == ["Hello! Webhooks work."])
        .await;
    model.then([Scripted::reply("A second answer.")]);
    assert_eq!(post(Some("s3cret-webhook")).await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.texts(CHAT), ["Hello! Webhooks work."]);
    assert_eq!(model.remaining(), 1);
    task.abort();
}

/// Telegram refusing messages to a chat for a while loses no reply: it is stored, queued, and
/// sent once Telegram takes them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_telegram_refused_is_sent_when_it_takes_messages_again() {
    let r = start(Duration::from_millis(20)).await;
    r.fake.set_blocked(CHAT, true);
    r.model
        .then([Scripted::reply("Your answer, whenever you can read it.")]);
    r.fake.push(FakeTelegram::text_update(1, CHAT, "hello?"));
    // Stored while Telegram refuses it.
    let mut stored = false;
    for _ in 0..500 {
        if let Some(record) = r
            .test
            .store
            .open_conversation("telegram", &CHAT.to_string())
            .await
            .unwrap()
        {
            let messages = r
                .test
                .store
                .messages(&record.conversation_id)
                .await
                .unwrap();
            if messages.iter().any(|m| m.role == Role::Assistant) {
                stored = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored);
    assert!(r.fake.texts(CHAT).is_empty());
    r.fake.set_blocked(CHAT, false);
    r.fake
        .wait_for("the reply, sent again", |f| {
            f.texts(CHAT) == ["Your answer, whenever you can read it."]
        })
        .await;
    r.task.abort();
}

/// A chat Telegram refuses to deliver to (the shopper blocked the bot, then sent a photo) holds
/// up no one else: the next shopper is answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_chat_that_blocked_the_bot_holds_up_no_one() {
    let r = start(Duration::from_millis(20)).await;
    const BLOCKED: i64 = 666;
    r.fake.set_blocked(BLOCKED, true);
    let mut photo = FakeTelegram::text_update(1, BLOCKED, "");
    photo["message"].as_object_mut().unwrap().remove("text");
    photo["message"]["photo"] =
        serde_json::json!([{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]);
    r.fake.push(photo);
    r.model.then([Scripted::reply("Hello! How can I help?")]);
    r.fake.push(FakeTelegram::text_update(2, CHAT, "hi"));
    r.fake
        .wait_for("the other shopper's answer", |f| {
            f.texts(CHAT) == ["Hello! How can I help?"]
        })
        .await;
    // The refused notice was tried once, and the poll moved on.
    let to_blocked = r
        .fake
        .calls("sendmessage")
        .into_iter()
        .filter(|c| c.body["chat_id"] == BLOCKED)
        .count();
    assert_eq!(to_blocked, 1);
    r.task.abort();
}

/// One chat that refuses everything holds up none of 50 others: each outbox message is tried on
/// its own, with backoff, a refused one is given up after its attempts and shown to staff, and
/// every other shopper gets staff's messages, in order.
#[tokio::test(flavor = "multi_thread")]
async fn one_blocked_chat_holds_up_no_staff_reply_to_fifty_others() {
    const BLOCKED: i64 = 666;
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let fake = FakeTelegram::start().await.unwrap();
    fake.set_blocked(BLOCKED, true);
    // Staff take each conversation and reply: two messages each in the outbox, the blocked
    // chat's first.
    let mut blocked_id = String::new();
    for chat in std::iter::once(BLOCKED).chain(1..=50) {
        let id = engine
            .start("telegram", &chat.to_string())
            .await
            .unwrap()
            .conversation_id;
        engine.ask_for_staff(&id, &|_| {}).await.unwrap();
        assert!(engine.take(&id, "maria").await.unwrap());
        engine
            .staff_reply(&id, "maria", &format!("Maria here, about chat {chat}."))
            .await
            .unwrap();
        if chat == BLOCKED {
            blocked_id = id;
        }
    }
    let retry = clerk::channel::OutboxRetry {
        first: Duration::from_millis(20),
        longest: Duration::from_millis(100),
        attempts: 4,
    };
    let channel = Arc::new(TelegramChannel::new(
        engine.clone(),
        TelegramConfig {
            outbox_retry: retry,
            ..config(&fake, Duration::from_millis(20))
        },
    ));
    let task = tokio::spawn(async move { channel.run().await.unwrap() });
    fake.wait_for("staff's messages in all 50 other chats", |f| {
        (1..=50).all(|chat| {
            f.texts(chat)
                == [
                    "A member of our team has joined the conversation.".to_owned(),
                    format!("Maria here, about chat {chat}."),
                ]
        })
    })
    .await;
    // The blocked chat's two messages: each tried four times, in order, then given up and
    // shown to staff on the conversation.
    let mut undelivered = Vec::new();
    for _ in 0..1000 {
        undelivered = test.store.undelivered(&blocked_id).await.unwrap();
        if undelivered.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages = test.store.messages(&blocked_id).await.unwrap();
    let seqs: Vec<i64> = messages
        .iter()
        .filter(|m| m.role == Role::Staff)
        .map(|m| m.seq)
        .collect();
    assert_eq!(undelivered, seqs);
    let tried: Vec<String> = fake
        .calls("sendmessage")
        .into_iter()
        .filter(|c| c.body["chat_id"] == BLOCKED)
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let joined = "A member of our team has joined the conversation.".to_owned();
    let reply = "Maria here, about chat 666.".to_owned();
    assert_eq!(
        tried,
        [vec![joined; 4], vec![reply; 4]].concat(),
        "each tried four times, in order"
    );
    let notes: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::System && m.content.contains("could not be delivered"))
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with(&format!(
            "Message {} could not be delivered to the shopper's app after 4 attempts",
            seqs[0]
        )),
        "{}",
        notes[0]
    );
    task.abort();
}

/// In polling mode nothing may post updates to clerk: there is no webhook route.
#[tokio::test(flavor = "multi_thread")]
async fn polling_mode_serves_no_webhook() {
    let test = tau2_store(Db::Sqlite).await;
    let (engine, _model) = common::scripted_engine(&test);
    let fake = FakeTelegram::start().await.unwrap();
    let channel = Arc::new(TelegramChannel::new(
        engine.clone(),
        config(&fake, Duration::from_millis(50)),
    ));
    let address = common::serve_all(&test, engine, Some(channel)).await;
    let status = reqwest::Client::new()
        .post(format!("http://{address}/telegram/webhook"))
        .header("content-type", "application/json")
        .body(FakeTelegram::text_update(1, CHAT, "yes").to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 404);
    assert!(
        test.store
            .open_conversation("telegram", &CHAT.to_string())
            .await
            .unwrap()
            .is_none()
    );
}
