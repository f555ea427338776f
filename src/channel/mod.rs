//! Messaging channels: how a shopper's app reaches the engine and how replies reach the app.
//!
//! One abstraction serves every app that pushes messages to clerk (Telegram, Discord): an
//! [`Outlet`] knows how to send, edit and delete a message and show `typing…` in a chat, and its
//! length limit. [`Channel`] does the rest, the same for all of them:
//!
//! - an update in ([`Channel::take_in`]) is recorded with its update key in the same transaction
//!   as the shopper's message, so a redelivered update is never answered twice; the answer then
//!   runs on its own task;
//! - the bot's reply streams into one message, edited at most once per `edit_interval`, split at
//!   the app's limit when whole ([`Channel::answer`]);
//! - replies written outside a turn (staff's, "you're back with the bot") wait in the store's
//!   outbox until the channel's worker sends them ([`Channel::deliver_outbox`]);
//! - after a restart, messages left unanswered are answered ([`Channel::recover`]).
//!
//! The web chat is the one channel that pulls (the page streams its own turn and fetches the
//! history), so it has no outlet. Adding an app is one module: its outlet, and the loop that
//! feeds [`Channel::take_in`].

pub mod discord;
pub mod telegram;

use clerk_core::store::{Role, Store, StoreError};
use clerk_engine::conversation::{ConversationLocks, Engine, EngineError, ReplyEvent};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a channel could not take a message in or deliver one.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The app's API refused or failed a request.
    #[error("{channel} API: {message}")]
    Platform {
        /// Which app.
        channel: &'static str,
        /// What it said.
        message: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl clerk_core::error::HasCode for ChannelError {
    fn code(&self) -> clerk_core::error::Code {
        match self {
            ChannelError::Platform { .. } => clerk_core::error::Code::ChannelPlatform,
            ChannelError::Engine(e) => e.code(),
            ChannelError::Store(e) => e.code(),
        }
    }
}

/// What a shopper sent, as far as clerk cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message.
    Text(String),
    /// The app's first message (`/start`).
    Start,
    /// Asks for a person (`/human`).
    Human,
    /// Starts over (`/reset`): the open conversation is closed.
    Reset,
    /// Links the chat to the shopper's account (`/link`, `/link CODE`, `/link EMAIL`): what
    /// follows the command, trimmed.
    Link(String),
    /// Removes the chat's link to an account (`/unlink`).
    Unlink,
    /// Something clerk cannot read (a photo, a sticker…).
    NotText,
}

impl Incoming {
    /// A text as a command when it is one (`/human`, `/human@store_bot`), else as text.
    pub fn parse(text: &str) -> Incoming {
        let first = text.split_whitespace().next().unwrap_or_default();
        let command = first.split('@').next().unwrap_or_default();
        match command.to_ascii_lowercase().as_str() {
            "/start" => Incoming::Start,
            "/human" => Incoming::Human,
            "/reset" => Incoming::Reset,
            "/link" => Incoming::Link(
                text.trim_start()
                    .get(first.len()..)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ),
            "/unlink" => Incoming::Unlink,
            _ => Incoming::Text(text.to_owned()),
        }
    }
}

/// A messaging app's side of a channel: what clerk can do in a chat there.
pub trait Outlet: Send + Sync + 'static {
    /// The channel's name, as stored with its conversations.
    const CHANNEL: &'static str;
    /// The longest message the app takes, in [`Outlet::length`] units.
    const MAX_LENGTH: usize;

    /// A text's length as the app counts it (Unicode scalar values unless it says otherwise); a
    /// text's length is the sum of its characters'.
    fn length(text: &str) -> usize {
        text.chars().count()
    }

    /// Sends a message; returns its id.
    fn send(
        &self,
        chat: &str,
        text: &str,
    ) -> impl Future<Output = Result<String, ChannelError>> + Send;

    /// Replaces a sent message's text.
    fn edit(
        &self,
        chat: &str,
        message: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Deletes a sent message.
    fn delete(
        &self,
        chat: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Shows that clerk is writing.
    fn typing(&self, chat: &str) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Whether a chat is one shopper's alone (a direct message), where an account may be
    /// linked and a linked account is recognised.
    fn private(_chat: &str) -> bool {
        true
    }
}

/// Splits a text into pieces no longer than `max` (as `length` counts), at a paragraph, line or
/// word break when one is in the second half of a piece.
pub fn split(text: &str, max: usize, length: fn(&str) -> usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while length(rest) > max {
        // The longest prefix within the limit, on a character boundary (lengths add up
        // character by character in both ways apps count).
        let (mut end, mut used) = (0, 0);
        let mut buffer = [0u8; 4];
        for (i, c) in rest.char_indices() {
            used += length(c.encode_utf8(&mut buffer));
            if used > max {
                break;
            }
            end = i + c.len_utf8();
        }
        let window = &rest[..end];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .filter_map(|sep| window.rfind(sep))
            .find(|&at| at >= end / 2)
            .unwrap_or(end);
        let cut = if cut == 0 { end } else { cut };
        pieces.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// One app's channel over the engine.
pub struct Channel<O: Outlet> {
    engine: Engine,
    outlet: O,
    edit_interval: Duration,
    retry: OutboxRetry,
    /// Answers of a conversation take turns: an answer looking for a message that came in
    /// meanwhile must not race that message's own answer (the shopper would get two).
    answering: ConversationLocks,
}

/// How the outbox tries a message the app refuses: each message on its own (the others go
/// out meanwhile), again after `first`, then after twice as long each time up to `longest`, and
/// given up after `attempts` failures (then shown to staff on its conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxRetry {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub longest: Duration,
    /// How many failed attempts give a message up.
    pub attempts: u32,
}

impl Default for OutboxRetry {
    /// 2 s, 4 s, … up to 10 minutes between attempts; given up after 12 (about 37 minutes).
    fn default() -> OutboxRetry {
        OutboxRetry {
            first: Duration::from_secs(2),
            longest: Duration::from_secs(600),
            attempts: 12,
        }
    }
}

impl OutboxRetry {
    /// The wait after the `failures`-th failure (from 1).
    pub fn wait(&self, failures: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
        doubled.min(self.longest)
    }
}

/// An update, recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// What remains to do.
    pub next: Next,
    /// What the shopper is to be told now, if anything.
    pub words: Option<String>,
}

/// What remains to do for an update once it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing: a redelivered update, or a message for staff.
    Nothing,
    /// Answer the conversation (on its own task: it may take the model a while).
    Answer(String),
}

impl<O: Outlet> Channel<O> {
    /// A channel sending through `outlet`, editing a streamed reply at most once per
    /// `edit_interval`.
    pub fn new(engine: Engine, outlet: O, edit_interval: Duration) -> Channel<O> {
        Channel {
            engine,
            outlet,
            edit_interval,
            retry: OutboxRetry::default(),
            answering: ConversationLocks::default(),
        }
    }

    /// The same channel, trying refused outbox messages as `retry` says.
    pub fn with_retry(mut self, retry: OutboxRetry) -> Channel<O> {
        self.retry = retry;
        self
    }

    /// The app's side.
    pub fn outlet(&self) -> &O {
        &self.outlet
    }

    /// The engine answering.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn store(&self) -> &Store {
        self.engine.store()
    }

    /// The shopper's open conversation in `chat`, or a new one.
    async fn conversation(&self, chat: &str) -> Result<String, ChannelError> {
        Ok(
            match self.store().open_conversation(O::CHANNEL, chat).await? {
                Some(record) => record.conversation_id,
                None => self.start(chat).await?,
            },
        )
    }

    /// A new conversation in `chat`: authenticated as the customer a private chat is linked to.
    async fn start(&self, chat: &str) -> Result<String, ChannelError> {
        let linked = match O::private(chat) {
            true => self.store().linked_customer(O::CHANNEL, chat).await?,
            false => None,
        };
        let record = match linked {
            Some(user) => self.engine.start_as(O::CHANNEL, chat, &user).await?,
            None => self.engine.start(O::CHANNEL, chat).await?,
        };
        Ok(record.conversation_id)
    }

    /// `/link` (how to), `/link EMAIL` (a code by email) or `/link CODE` (the chat is linked,
    /// and the conversation authenticated — or, if it was another customer's, a new one
    /// started). Returns the words for the shopper and the conversation they belong in.
    async fn link(
        &self,
        chat: &str,
        conversation: String,
        argument: &str,
    ) -> Result<(String, String), ChannelError> {
        use clerk_core::identity::{CODE_LIFETIME, IdentityError};
        let verified = &self.engine.replies().verified;
        let identity = self.engine.identity();
        let minutes = (CODE_LIFETIME.as_secs() / 60).to_string();
        let words = |text: &String| text.replace("{minutes}", &minutes);
        if !O::private(chat) {
            return Ok((words(&verified.link_private), conversation));
        }
        if argument.is_empty() {
            let help = match identity.mails_codes() {
                true => &verified.link_help,
                false => &verified.link_help_site,
            };
            return Ok((words(help), conversation));
        }
        let outcome = if argument.contains('@') {
            identity
                .email_code(O::CHANNEL, chat, argument)
                .await
                .map(|()| words(&verified.link_email_sent))
        } else {
            match identity.redeem(O::CHANNEL, chat, argument).await {
                Ok(user) => {
                    return self.linked(chat, conversation, &user).await;
                }
                Err(error) => Err(error),
            }
        };
        let text = match outcome {
            Ok(text) => text,
            Err(IdentityError::InvalidCode) => words(&verified.link_invalid),
            Err(IdentityError::TooManyAttempts(wait)) => verified
                .link_throttled
                .replace("{minutes}", &wait.to_string()),
            Err(IdentityError::MailNotConfigured) => words(&verified.link_no_email),
            Err(IdentityError::Store(error)) => return Err(error.into()),
            // Not what /link can meet (tokens and the API's errors), but never lost silently.
            Err(
                error @ (IdentityError::NotEnabled
                | IdentityError::InvalidToken(_)
                | IdentityError::Replayed
                | IdentityError::UnknownCustomer),
            ) => {
                tracing::warn!(channel = O::CHANNEL, %error, "/link failed");
                words(&verified.link_invalid)
            }
        };
        Ok((text, conversation))
    }

    /// The chat was just linked to `user`: the open conversation is theirs from now on, unless
    /// it is another customer's (one customer per conversation): then a new one starts.
    async fn linked(
        &self,
        chat: &str,
        conversation: String,
        user: &str,
    ) -> Result<(String, String), ChannelError> {
        let verified = &self.engine.replies().verified;
        if self.engine.authenticate(&conversation, user).await? {
            return Ok((verified.linked.clone(), conversation));
        }
        let record = self.store().conversation(&conversation).await?;
        if record.and_then(|r| r.authenticated_user).as_deref() == Some(user) {
            return Ok((verified.linked.clone(), conversation));
        }
        self.engine.close(&conversation).await?;
        let fresh = self.engine.start_as(O::CHANNEL, chat, user).await?;
        Ok((
            verified.linked_new_conversation.clone(),
            fresh.conversation_id,
        ))
    }

    /// Records an update from `chat` (`update_key` unique to it, the same when redelivered),
    /// does what needs no model and sends the shopper what that says; returns what remains.
    /// Call [`Channel::answer`] with an [`Next::Answer`], best on its own task, once the app's
    /// offset has moved past the update.
    pub async fn take_in(
        &self,
        chat: &str,
        update_key: &str,
        incoming: Incoming,
    ) -> Result<Next, ChannelError> {
        let taken = self.record(chat, update_key, incoming).await?;
        if let Some(words) = &taken.words
            && let Err(error) = self.send_all(chat, words).await
        {
            // One chat the app refuses (the shopper blocked the bot) must not hold up the
            // others: the update is taken in all the same.
            tracing::warn!(channel = O::CHANNEL, chat, %error, "a notice could not be sent");
        }
        Ok(taken.next)
    }

    /// As [`Channel::take_in`], but returns the words for the shopper instead of sending them
    /// (for an app that wants them as the answer to a command).
    pub async fn record(
        &self,
        chat: &str,
        update_key: &str,
        incoming: Incoming,
    ) -> Result<Taken, ChannelError> {
        let nothing = Taken {
            next: Next::Nothing,
            words: None,
        };
        if self.store().update_seen(O::CHANNEL, update_key).await? {
            tracing::info!(
                channel = O::CHANNEL,
                update_key,
                "redelivered update ignored"
            );
            return Ok(nothing);
        }
        let replies = self.engine.replies().clone();
        let command = match &incoming {
            Incoming::Text(_) => None,
            Incoming::Start => Some("/start"),
            Incoming::Human => Some("/human"),
            Incoming::Reset => Some("/reset"),
            // What follows /link (a code, an email) is not kept in the conversation.
            Incoming::Link(_) => Some("/link"),
            Incoming::Unlink => Some("/unlink"),
            Incoming::NotText => {
                return Ok(Taken {
                    next: Next::Nothing,
                    words: Some(replies.text_only),
                });
            }
        };
        let conversation = self.conversation(chat).await?;
        let text = match (&incoming, command) {
            (Incoming::Text(text), _) => match self.engine.check_message(text) {
                Ok(text) => text.to_owned(),
                Err(error) => {
                    return Ok(Taken {
                        next: Next::Nothing,
                        words: Some(replies.not_taken.replace("{error}", &error.to_string())),
                    });
                }
            },
            (_, command) => command.unwrap_or_default().to_owned(),
        };
        if self
            .store()
            .append_inbound(
                &conversation,
                (O::CHANNEL, update_key),
                &text,
                clerk_core::sentiment::message_mood(&text),
            )
            .await?
            .is_none()
        {
            return Ok(nothing);
        }
        let words = match incoming {
            Incoming::Text(_) | Incoming::NotText => {
                return Ok(Taken {
                    next: Next::Answer(conversation),
                    words: None,
                });
            }
            Incoming::Start => {
                let welcome = match self.engine.identity().identify_in_chat() {
                    true => replies.welcome,
                    false => replies.verified.welcome,
                };
                self.store()
                    .append_message(&conversation, Role::Assistant, &welcome, None)
                    .await?;
                welcome
            }
            Incoming::Link(argument) => {
                let (words, conversation) = self.link(chat, conversation, &argument).await?;
                self.store()
                    .append_message(&conversation, Role::Assistant, &words, None)
                    .await?;
                words
            }
            Incoming::Unlink => {
                let verified = &replies.verified;
                if self.store().unlink_app_account(O::CHANNEL, chat).await? {
                    // The open conversation was the customer's: the next starts unverified.
                    self.engine.close(&conversation).await?;
                    self.start(chat).await?;
                    verified.unlinked.clone()
                } else {
                    verified.not_linked.clone()
                }
            }
            Incoming::Human => self
                .engine
                .ask_for_staff(&conversation, &|_| {})
                .await?
                .reply
                .unwrap_or_default(),
            Incoming::Reset => {
                self.engine.close(&conversation).await?;
                self.start(chat).await?;
                replies.reset
            }
        };
        Ok(Taken {
            next: Next::Nothing,
            words: Some(words),
        })
    }

    /// Sends a whole text, split at the app's limit.
    async fn send_all(&self, chat: &str, text: &str) -> Result<(), ChannelError> {
        for piece in split(text, O::MAX_LENGTH, O::length) {
            self.outlet.send(chat, &piece).await?;
        }
        Ok(())
    }

    /// Answers the shopper's unanswered message in `conversation`, in `chat`: `typing…` until the
    /// reply begins, then the reply streaming into one message (edited at most once per
    /// `edit_interval`), split at the app's limit when whole. Nothing when staff own it.
    pub async fn answer(&self, chat: &str, conversation: &str) -> Result<(), ChannelError> {
        let _answering = self.answering.hold(conversation).await;
        let mut follow_up = false;
        // A message the shopper sent while a reply was being made gets its own answer.
        while let Some(seen) = self.answer_once(chat, conversation, follow_up).await? {
            let messages = self.store().messages(conversation).await?;
            let unseen = messages.iter().skip(seen).any(|m| m.role == Role::User);
            if !unseen {
                break;
            }
            follow_up = true;
        }
        Ok(())
    }

    /// One answer; returns how many messages the model had seen, when it replied.
    async fn answer_once(
        &self,
        chat: &str,
        conversation: &str,
        follow_up: bool,
    ) -> Result<Option<usize>, ChannelError> {
        let (sender, mut pieces) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
        let sink = move |event: ReplyEvent<'_>| {
            let _ = sender.send(match event {
                ReplyEvent::Text(text) => Some(text.to_owned()),
                ReplyEvent::Retract => None,
            });
        };
        let turn = async {
            if follow_up {
                self.engine.follow_up(conversation, &sink).await
            } else {
                self.engine.resume(conversation, &sink).await
            }
        };
        tokio::pin!(turn);
        let mut draft = Draft::default();
        let mut next_typing = Instant::now();
        let outcome = loop {
            let due = draft.due(self.edit_interval);
            tokio::select! {
                outcome = &mut turn => break outcome,
                Some(piece) = pieces.recv() => {
                    match piece {
                        Some(text) => draft.text.push_str(&text),
                        None => draft.text.clear(),
                    }
                    draft.changed = true;
                }
                _ = tokio::time::sleep_until(next_typing), if draft.message.is_none() => {
                    if let Err(error) = self.outlet.typing(chat).await {
                        tracing::warn!(channel = O::CHANNEL, %error, "typing indicator failed");
                    }
                    next_typing = Instant::now() + Duration::from_secs(4);
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    // The turn goes on whatever the app says; the whole reply is tried at the end.
                    if let Err(error) = self.show(chat, &mut draft).await {
                        tracing::warn!(channel = O::CHANNEL, %error, "a streamed update failed");
                    }
                }
            }
        };
        let mut seen = None;
        let mut stored = false;
        let reply = match outcome {
            Ok(outcome) => {
                stored = true;
                seen = outcome
                    .as_ref()
                    .filter(|o| o.reply.is_some())
                    .map(|o| o.seen_messages);
                outcome.and_then(|o| o.reply)
            }
            Err(error) => {
                // Nothing is lost: the message is stored, and is answered after a restart or by
                // staff; the shopper is told.
                tracing::error!(channel = O::CHANNEL, conversation, %error, "turn failed");
                let words = self
                    .engine
                    .replies()
                    .not_taken
                    .replace("{error}", &error.to_string());
                Some(words)
            }
        };
        if let Err(error) = self.finish(chat, draft, reply.as_deref()).await {
            // The app refused the reply (down, rate-limited…): it is stored, so the outbox sends
            // it again until the app takes it.
            tracing::warn!(channel = O::CHANNEL, conversation, %error, "reply not delivered; queued");
            if let (true, Some(reply)) = (stored, reply.as_deref()) {
                let messages = self.store().messages(conversation).await?;
                let made = messages.iter().rev().find(|m| {
                    m.role == Role::Assistant && m.tool_call.is_none() && m.content == reply
                });
                if let Some(made) = made {
                    self.store().enqueue_outbox(conversation, made.seq).await?;
                }
            }
        }
        Ok(seen)
    }

    /// Shows a streamed reply's text so far.
    async fn show(&self, chat: &str, draft: &mut Draft) -> Result<(), ChannelError> {
        // The interval counts from when the app answered, so a slow app is not pressed harder.
        let _shown = ShownAt(&mut draft.shown_at);
        draft.changed = false;
        let visible = split(&draft.text, O::MAX_LENGTH, O::length)
            .into_iter()
            .next()
            .unwrap_or_default();
        if visible.is_empty() || visible == draft.shown {
            return Ok(());
        }
        match &draft.message {
            Some(id) => self.outlet.edit(chat, id, &visible).await?,
            None => draft.message = Some(self.outlet.send(chat, &visible).await?),
        }
        draft.shown = visible;
        Ok(())
    }

    /// Puts the whole reply in place: the streamed message edited to its first piece, the rest
    /// sent after it; a streamed message with no reply to show is deleted.
    async fn finish(
        &self,
        chat: &str,
        draft: Draft,
        reply: Option<&str>,
    ) -> Result<(), ChannelError> {
        let pieces = reply
            .map(|r| split(r, O::MAX_LENGTH, O::length))
            .unwrap_or_default();
        let mut pieces = pieces.into_iter();
        // The last edit keeps the pace too.
        if draft.message.is_some()
            && let Some(at) = draft.shown_at
        {
            tokio::time::sleep_until(at + self.edit_interval).await;
        }
        match (&draft.message, pieces.next()) {
            (Some(id), Some(first)) if first != draft.shown => {
                self.outlet.edit(chat, id, &first).await?
            }
            (Some(_), Some(_)) => {}
            (Some(id), None) => self.outlet.delete(chat, id).await?,
            (None, Some(first)) => {
                self.outlet.send(chat, &first).await?;
            }
            (None, None) => {}
        }
        for piece in pieces {
            self.outlet.send(chat, &piece).await?;
        }
        Ok(())
    }

    /// Answers, in their chats, every conversation of this channel whose last message was left
    /// unanswered (a crash or restart in the middle of a turn).
    pub async fn recover(&self) -> Result<usize, ChannelError> {
        let waiting = self.store().unanswered(O::CHANNEL).await?;
        for conversation in &waiting {
            if let Some(record) = self.store().conversation(conversation).await? {
                self.answer(&record.shopper, conversation).await?;
            }
        }
        Ok(waiting.len())
    }

    /// Sends this channel's outbox (staff's replies and notices) for ever: whatever is queued,
    /// then again at each change this process makes, and at least every `poll` (for messages
    /// other clerk instances queue).
    pub async fn deliver_outbox(self: Arc<Self>, poll: Duration) {
        loop {
            let changed = self.store().changed();
            match self.deliver_queued().await {
                Ok(0) => {}
                Ok(sent) => tracing::debug!(channel = O::CHANNEL, sent, "outbox delivered"),
                Err(error) => {
                    tracing::warn!(channel = O::CHANNEL, %error, "outbox delivery failed")
                }
            }
            let _ = tokio::time::timeout(poll, changed).await;
        }
    }

    /// Sends what the outbox holds now; returns how many messages went out. A message the app
    /// refuses is tried again later, on its own ([`OutboxRetry`]): the others go out meanwhile.
    pub async fn deliver_queued(&self) -> Result<usize, ChannelError> {
        /// How long a claimed message is left to its worker before another may send it.
        const LEASE_MS: i64 = 60_000;
        let mut sent = 0;
        loop {
            let claimed = self.store().claim_outbox(O::CHANNEL, LEASE_MS, 32).await?;
            if claimed.is_empty() {
                return Ok(sent);
            }
            for message in claimed {
                let Err(error) = self.send_all(&message.shopper, &message.content).await else {
                    self.store()
                        .finish_outbox(&message.conversation_id, message.seq)
                        .await?;
                    sent += 1;
                    continue;
                };
                // Tried again later, by whichever worker claims it then.
                let failures = message.attempts.saturating_add(1);
                let wait = self.retry.wait(u32::try_from(failures).unwrap_or(u32::MAX));
                let retry_at = clerk_core::store::now_ms()
                    + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                let failures = self
                    .store()
                    .outbox_send_failed(
                        &message.conversation_id,
                        message.seq,
                        &error.to_string(),
                        retry_at,
                        i64::from(self.retry.attempts),
                    )
                    .await?;
                tracing::warn!(
                    channel = O::CHANNEL,
                    conversation = %message.conversation_id,
                    seq = message.seq,
                    failures,
                    %error,
                    "outbox message refused"
                );
            }
        }
    }
}

/// Stamps a draft's `shown_at` when dropped: after the app answered (or failed).
struct ShownAt<'a>(&'a mut Option<Instant>);

impl Drop for ShownAt<'_> {
    fn drop(&mut self) {
        *self.0 = Some(Instant::now());
    }
}

/// A reply being streamed into one message.
#[derive(Debug, Default)]
struct Draft {
    /// Everything received so far.
    text: String,
    /// The message showing it, once sent.
    message: Option<String>,
    /// What that message shows.
    shown: String,
    /// When it was last sent or edited.
    shown_at: Option<Instant>,
    /// Whether text came (or went) since it was last shown.
    changed: bool,
}

impl Draft {
    /// When the message should next be updated: none while nothing new came.
    fn due(&self, interval: Duration) -> Option<Instant> {
        if !self.changed || self.text.trim().is_empty() {
            return None;
        }
        Some(self.shown_at.map_or_else(Instant::now, |at| at + interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(text: &str) -> usize {
        text.chars().count()
    }

    #[test]
    fn long_texts_split_at_breaks_within_the_limit() {
        let text = format!("{}\n\n{}", "a".repeat(30), "b ".repeat(20));
        let pieces = split(&text, 32, chars);
        assert_eq!(pieces[0], "a".repeat(30));
        assert!(pieces.iter().all(|p| chars(p) <= 32), "{pieces:?}");
        assert_eq!(pieces[1..].concat().replace(' ', ""), "b".repeat(20));
        // No break at all: cut at the limit.
        assert_eq!(split(&"é".repeat(70), 32, chars).len(), 3);
        assert_eq!(split("short", 32, chars), vec!["short"]);
        assert!(split("  ", 32, chars).is_empty());
    }

    #[test]
    fn refused_messages_wait_twice_as_long_each_time_up_to_the_longest() {
        let retry = OutboxRetry::default();
        let waits: Vec<u64> = (1..=12).map(|n| retry.wait(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600]);
        assert_eq!(retry.wait(u32::MAX), retry.longest);
    }

    #[test]
    fn commands_are_told_from_text() {
        assert_eq!(Incoming::parse("/human"), Incoming::Human);
        assert_eq!(Incoming::parse("/HUMAN@store_bot please"), Incoming::Human);
        assert_eq!(Incoming::parse("/start"), Incoming::Start);
        assert_eq!(Incoming::parse("/reset"), Incoming::Reset);
        assert_eq!(Incoming::parse("/link"), Incoming::Link(String::new()));
        assert_eq!(
            Incoming::parse(" /link@store_bot  k7qx-2m9p "),
            Incoming::Link("k7qx-2m9p".into())
        );
        assert_eq!(Incoming::parse("/unlink"), Incoming::Unlink);
        assert_eq!(
            Incoming::parse("where is /human?"),
            Incoming::Text("where is /human?".into())
        );
    }
}
