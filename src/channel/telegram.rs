//! Telegram, through teloxide's Bot API client. clerk runs its own update loop rather than
//! teloxide's dispatcher, because the offset must live in the store: an update is recorded with
//! the shopper's message in one transaction, the offset moves past it only then (and survives a
//! restart), and a redelivered update finds its key recorded and gets no second reply.
//!
//! Long polling is the default; with a webhook URL set, Telegram posts updates to
//! `POST /telegram/webhook` instead (several clerk instances behind one address), each request
//! checked against the secret token given to Telegram.
//!
//! Replies go out as HTML with the text escaped, so nothing the model or staff write is taken
//! as markup; they are split at Telegram's 4096 characters (counted as Telegram counts them, in
//! UTF-16 code units).

use super::{Channel, ChannelError, Incoming, Next, Outlet};
use clerk_engine::conversation::Engine;
use std::sync::Arc;
use std::time::Duration;
use teloxide::Bot;
use teloxide::payloads::{
    EditMessageTextSetters, GetUpdatesSetters, SendMessageSetters, SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, ChatAction, ChatId, MessageId, ParseMode, Update, UpdateKind,
};

/// How clerk reaches Telegram.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The bot's token, from @BotFather.
    pub token: String,
    /// The Bot API's address (Telegram's own when none; a local Bot API server or a test's).
    pub api_url: Option<reqwest::Url>,
    /// Where Telegram should post updates (webhook mode); long polling when none.
    pub webhook_url: Option<reqwest::Url>,
    /// The secret Telegram sends with each webhook request.
    pub webhook_secret: Option<String>,
    /// How long one long poll waits for updates.
    pub poll_timeout: Duration,
    /// The least time between two edits of a streamed reply.
    pub edit_interval: Duration,
    /// How a message the app refuses is tried again, and when it is given up.
    pub outbox_retry: super::OutboxRetry,
}

/// Telegram's side of the channel.
pub struct Telegram {
    bot: Bot,
}

impl Telegram {
    /// A client for the bot of `config`.
    pub fn new(config: &TelegramConfig) -> Telegram {
        let mut bot = Bot::new(&config.token);
        if let Some(url) = &config.api_url {
            bot = bot.set_api_url(url.clone());
        }
        Telegram { bot }
    }
}

fn platform(error: impl std::fmt::Display) -> ChannelError {
    ChannelError::Platform {
        channel: "telegram",
        message: error.to_string(),
    }
}

fn chat_id(chat: &str) -> Result<ChatId, ChannelError> {
    chat.parse()
        .map(ChatId)
        .map_err(|_| platform(format!("{chat:?} is not a chat id")))
}

fn message_id(message: &str) -> Result<MessageId, ChannelError> {
    message
        .parse()
        .map(MessageId)
        .map_err(|_| platform(format!("{message:?} is not a message id")))
}

/// Escapes a text for Telegram's HTML parse mode.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

impl Outlet for Telegram {
    const CHANNEL: &'static str = "telegram";
    const MAX_LENGTH: usize = 4096;

    fn length(text: &str) -> usize {
        text.encode_utf16().count()
    }

    async fn send(&self, chat: &str, text: &str) -> Result<String, ChannelError> {
        let sent = self
            .bot
            .send_message(chat_id(chat)?, escape_html(text))
            .parse_mode(ParseMode::Html)
            .await
            .map_err(platform)?;
        Ok(sent.id.0.to_string())
    }

    async fn edit(&self, chat: &str, message: &str, text: &str) -> Result<(), ChannelError> {
        self.bot
            .edit_message_text(chat_id(chat)?, message_id(message)?, escape_html(text))
            .parse_mode(ParseMode::Html)
            .await
            .map_err(platform)?;
        Ok(())
    }

    async fn delete(&self, chat: &str, message: &str) -> Result<(), ChannelError> {
        self.bot
            .delete_message(chat_id(chat)?, message_id(message)?)
            .await
            .map_err(platform)?;
        Ok(())
    }

    async fn typing(&self, chat: &str) -> Result<(), ChannelError> {
        self.bot
            .send_chat_action(chat_id(chat)?, ChatAction::Typing)
            .await
            .map_err(platform)?;
        Ok(())
    }
}

/// The Telegram channel: its outlet over the engine, and how updates reach it.
pub struct TelegramChannel {
    channel: Arc<Channel<Telegram>>,
    config: TelegramConfig,
}

impl TelegramChannel {
    /// The channel for the bot of `config`, answering with `engine`.
    pub fn new(engine: Engine, config: TelegramConfig) -> TelegramChannel {
        let outlet = Telegram::new(&config);
        TelegramChannel {
            channel: Arc::new(
                Channel::new(engine, outlet, config.edit_interval).with_retry(config.outbox_retry),
            ),
            config,
        }
    }

    /// The channel, shared.
    pub fn channel(&self) -> Arc<Channel<Telegram>> {
        self.channel.clone()
    }

    /// Takes in one update (from a poll or the webhook): records it, then answers on its own
    /// task. Returns once it is recorded.
    pub async fn take_update(&self, update: Update) -> Result<(), ChannelError> {
        take_update(&self.channel, update).await
    }

    /// Runs the channel: answers what a restart left unanswered, starts delivering the outbox,
    /// and either registers the webhook or polls for updates until the task is dropped.
    pub async fn run(self: Arc<Self>) -> Result<(), ChannelError> {
        let bot = &self.channel.outlet().bot;
        // Telegram unreachable at start (the network not up yet) is waited out, not fatal; a
        // token Telegram refuses is.
        let mut failures = 0;
        let me = loop {
            match bot.get_me().await {
                Ok(me) => break me,
                Err(teloxide::RequestError::Api(error)) => return Err(platform(error)),
                Err(error) => {
                    failures += 1;
                    let wait = backoff(failures);
                    tracing::warn!(%error, ?wait, "Telegram: unreachable");
                    tokio::time::sleep(wait).await;
                }
            }
        };
        tracing::info!(bot = %me.username(), "Telegram: signed in");
        tokio::spawn(self.channel.clone().deliver_outbox(Duration::from_secs(1)));
        let recovering = self.channel.clone();
        tokio::spawn(async move {
            match recovering.recover().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    conversations = n,
                    "Telegram: answered messages left unanswered"
                ),
                Err(error) => tracing::warn!(%error, "Telegram: recovery failed"),
            }
        });
        if let Some(url) = &self.config.webhook_url {
            let mut request = bot
                .set_webhook(url.clone())
                .allowed_updates(vec![AllowedUpdate::Message]);
            if let Some(secret) = &self.config.webhook_secret {
                request = request.secret_token(secret.clone());
            }
            request.await.map_err(platform)?;
            tracing::info!(%url, "Telegram: updates arrive by webhook");
            std::future::pending::<()>().await;
        }
        // getUpdates is refused while a webhook is set.
        bot.delete_webhook().await.map_err(platform)?;
        self.poll().await
    }

    /// Long polling, for ever: the offset is read from and written to the store. Failures of
    /// Telegram or of the store are waited out.
    async fn poll(&self) -> Result<(), ChannelError> {
        let mut failures = 0u32;
        loop {
            match self.poll_once().await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    let wait = backoff(failures);
                    tracing::warn!(%error, ?wait, "Telegram: polling failed");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One long poll, and the updates it brought taken in.
    async fn poll_once(&self) -> Result<(), ChannelError> {
        let bot = &self.channel.outlet().bot;
        let store = self.channel.engine().store();
        let offset = store
            .channel_cursor(Telegram::CHANNEL)
            .await?
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        let timeout = self.config.poll_timeout.as_secs().min(u64::from(u32::MAX)) as u32;
        let updates = bot
            .get_updates()
            .offset(offset)
            .timeout(timeout)
            .allowed_updates(vec![AllowedUpdate::Message])
            .await
            .map_err(platform)?;
        for update in updates {
            let next = i64::from(update.id.0) + 1;
            // Not taken in (the store failed): it comes again at the next poll.
            take_update(&self.channel, update).await?;
            store
                .set_channel_cursor(Telegram::CHANNEL, &next.to_string())
                .await?;
        }
        Ok(())
    }

    /// Whether updates arrive by webhook (else by long polling).
    pub fn webhook_mode(&self) -> bool {
        self.config.webhook_url.is_some()
    }

    /// Checks a webhook request's secret token (in constant time). Without a configured secret
    /// nothing passes: the settings refuse a webhook without one.
    pub fn webhook_secret_ok(&self, given: Option<&str>) -> bool {
        match (&self.config.webhook_secret, given) {
            (Some(expected), Some(given)) => clerk_core::secret::same(expected, given),
            _ => false,
        }
    }
}

/// How long to wait after `failures` failures in a row: 1 s doubling up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(failures.clamp(1, 7)))
}

/// Records an update and starts its answer.
async fn take_update(channel: &Arc<Channel<Telegram>>, update: Update) -> Result<(), ChannelError> {
    let UpdateKind::Message(message) = update.kind else {
        return Ok(());
    };
    // Groups are not shops' customer service: only private chats.
    if !message.chat.is_private() {
        return Ok(());
    }
    let chat = message.chat.id.0.to_string();
    let incoming = match message.text() {
        Some(text) => Incoming::parse(text),
        None => Incoming::NotText,
    };
    let key = update.id.0.to_string();
    if let Next::Answer(conversation) = channel.take_in(&chat, &key, incoming).await? {
        let channel = channel.clone();
        tokio::spawn(async move {
            if let Err(error) = channel.answer(&chat, &conversation).await {
                tracing::error!(%error, conversation, "Telegram: the answer could not be sent");
            }
        });
    }
    Ok(())
}

/// The webhook's route: `POST /telegram/webhook`, taking one update per request once its secret
/// token checks. The update is recorded before the answer (200) goes back, so Telegram
/// redelivers whatever was not; the reply runs on its own task.
pub fn webhook_routes(channel: Arc<TelegramChannel>) -> axum::Router {
    use axum::http::{HeaderMap, StatusCode};
    async fn webhook(
        axum::extract::State(channel): axum::extract::State<Arc<TelegramChannel>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let secret = headers
            .get("x-telegram-bot-api-secret-token")
            .and_then(|v| v.to_str().ok());
        if !channel.webhook_secret_ok(secret) {
            return StatusCode::UNAUTHORIZED;
        }
        let Ok(update) = serde_json::from_slice::<Update>(&body) else {
            // Not an update clerk can read: accepted, so Telegram does not send it forever.
            tracing::warn!("Telegram webhook: an update that does not parse was dropped");
            return StatusCode::OK;
        };
        match channel.take_update(update).await {
            Ok(()) => StatusCode::OK,
            // Not recorded: Telegram will deliver it again.
            Err(error) => {
                tracing::error!(%error, "Telegram webhook: update not taken in");
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
    axum::Router::new()
        .route("/telegram/webhook", axum::routing::post(webhook))
        .with_state(channel)
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped_and_length_counted_as_telegram_does() {
        assert_eq!(
            super::escape_html("<b>5 > 3 & 2</b>"),
            "&lt;b&gt;5 &gt; 3 &amp; 2&lt;/b&gt;"
        );
        use super::Outlet;
        // An emoji outside the BMP counts twice.
        assert_eq!(super::Telegram::length("ok👍"), 4);
    }
}
