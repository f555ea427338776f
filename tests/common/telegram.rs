//! The tests' Telegram: clerk's Bot API stand-in (`clerk_testkit::telegram_stub`, the real
//! HTTP/JSON protocol on 127.0.0.1), with a wait that fails the test when it times out.

#[allow(unused_imports)]
pub use clerk_testkit::telegram_stub::{BotApiStub as FakeTelegram, TOKEN};

/// Waiting on the stand-in, up to a generous bound (no timing assertion).
#[allow(async_fn_in_trait)]
pub trait Waits {
    /// Waits until `check` holds; fails the test, showing every chat, after 20 s.
    async fn wait_for(&self, what: &str, check: impl Fn(&FakeTelegram) -> bool);
}

impl Waits for FakeTelegram {
    async fn wait_for(&self, what: &str, check: impl Fn(&FakeTelegram) -> bool) {
        let done = self
            .wait_until(std::time::Duration::from_secs(20), check)
            .await;
        assert!(
            done,
            "timed out waiting for {what}; the chats show {}",
            self.describe()
        );
    }
}

/// The open conversation of a Telegram chat (the test fails if there is none).
pub async fn open_conversation(
    test: &super::TestStore,
    chat: i64,
) -> clerk::store::ConversationRecord {
    test.store
        .open_conversation("telegram", &chat.to_string())
        .await
        .unwrap()
        .expect("a conversation for the chat")
}

/// Telegram's settings for a channel talking to the stand-in, editing at most once per
/// `edit_interval`.
pub fn config(
    fake: &FakeTelegram,
    edit_interval: std::time::Duration,
) -> clerk::channel::telegram::TelegramConfig {
    clerk::channel::telegram::TelegramConfig {
        token: TOKEN.into(),
        api_url: Some(fake.url.parse().unwrap()),
        webhook_url: None,
        webhook_secret: None,
        poll_timeout: std::time::Duration::from_secs(2),
        edit_interval,
        outbox_retry: clerk::channel::OutboxRetry::default(),
    }
}
