//! Discord, through serenity's gateway and REST client. Shoppers write to the bot in a direct
//! message, or mention it in a guild channel on the allow-list (other channels are ignored).
//! A direct message channel is one shopper; in a guild channel each member is their own shopper
//! (`channel/user`), answered in that channel. `/human` works as a slash command (registered at
//! start) and as text.
//!
//! Replies are split at Discord's 2000 characters, never ping anyone (no allowed mentions), and
//! stream by edits no more often than the configured interval.

use super::{Channel, ChannelError, Incoming, Next, Outlet};
use clerk_engine::conversation::Engine;
use serenity::all::{
    ChannelId, Command, CommandInteraction, Context, CreateAllowedMentions, CreateCommand,
    CreateInteractionResponse, CreateInteractionResponseMessage, CreateMessage, EditMessage,
    EventHandler, GatewayIntents, Http, HttpBuilder, Interaction, Message, MessageId, Ready,
    UserId,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How clerk reaches Discord.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot's token (Developer Portal → the application → Bot).
    pub token: String,
    /// The guild channels where a mention of the bot is answered (direct messages always are).
    pub allowed_channels: Vec<u64>,
    /// Another address for Discord's REST API and gateway discovery (a test's server).
    pub api_proxy: Option<String>,
    /// The least time between two edits of a streamed reply.
    pub edit_interval: Duration,
    /// How a message the app refuses is tried again, and when it is given up.
    pub outbox_retry: super::OutboxRetry,
}

/// Discord's side of the channel.
pub struct Discord {
    /// The client's HTTP client, once connected.
    http: OnceLock<Arc<Http>>,
}

impl Discord {
    fn http(&self) -> Result<&Arc<Http>, ChannelError> {
        self.http
            .get()
            .ok_or_else(|| platform("not connected to Discord yet"))
    }
}

fn platform(error: impl std::fmt::Display) -> ChannelError {
    ChannelError::Platform {
        channel: "discord",
        message: error.to_string(),
    }
}

/// The Discord channel a chat key writes to (`channel` or `channel/user`).
fn channel_of(chat: &str) -> Result<ChannelId, ChannelError> {
    chat.split('/')
        .next()
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|&id| id != 0)
        .map(ChannelId::new)
        .ok_or_else(|| platform(format!("{chat:?} is not a channel id")))
}

fn message_of(message: &str) -> Result<MessageId, ChannelError> {
    message
        .parse::<u64>()
        .ok()
        .filter(|&id| id != 0)
        .map(MessageId::new)
        .ok_or_else(|| platform(format!("{message:?} is not a message id")))
}

impl Outlet for Discord {
    const CHANNEL: &'static str = "discord";
    const MAX_LENGTH: usize = 2000;

    /// A direct message; a guild channel's chat (`channel/member`) is shared by its members.
    fn private(chat: &str) -> bool {
        !chat.contains('/')
    }

    async fn send(&self, chat: &str, text: &str) -> Result<String, ChannelError> {
        let message = CreateMessage::new()
            .content(text)
            .allowed_mentions(CreateAllowedMentions::new());
        let sent = channel_of(chat)?
            .send_message(self.http()?, message)
            .await
            .map_err(platform)?;
        Ok(sent.id.get().to_string())
    }

    async fn edit(&self, chat: &str, message: &str, text: &str) -> Result<(), ChannelError> {
        channel_of(chat)?
            .edit_message(
                self.http()?,
                message_of(message)?,
                EditMessage::new()
                    .content(text)
                    .allowed_mentions(CreateAllowedMentions::new()),
            )
            .await
            .map_err(platform)?;
        Ok(())
    }

    async fn delete(&self, chat: &str, message: &str) -> Result<(), ChannelError> {
        channel_of(chat)?
            .delete_message(self.http()?, message_of(message)?)
            .await
            .map_err(platform)
    }

    async fn typing(&self, chat: &str) -> Result<(), ChannelError> {
        channel_of(chat)?
            .broadcast_typing(self.http()?)
            .await
            .map_err(platform)
    }
}

/// The Discord channel: the gateway's events into the engine.
pub struct DiscordChannel {
    channel: Arc<Channel<Discord>>,
    config: DiscordConfig,
    me: OnceLock<UserId>,
    /// Set at the first READY: the outbox worker and the recovery start once, however often
    /// the gateway reconnects.
    started: std::sync::atomic::AtomicBool,
}

impl DiscordChannel {
    /// Connects to Discord's gateway with the bot of `config` and answers with `engine` until
    /// the connection ends for good.
    pub async fn run(engine: Engine, config: DiscordConfig) -> Result<(), ChannelError> {
        let mut http = HttpBuilder::new(&config.token);
        if let Some(proxy) = &config.api_proxy {
            // serenity's rate limiter ignores the proxy: a test server is not rate limited.
            http = http.proxy(proxy.clone()).ratelimiter_disabled(true);
        }
        let intents = GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::DIRECT_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT;
        let handler = DiscordChannel {
            channel: Arc::new(
                Channel::new(
                    engine,
                    Discord {
                        http: OnceLock::new(),
                    },
                    config.edit_interval,
                )
                .with_retry(config.outbox_retry),
            ),
            config,
            me: OnceLock::new(),
            started: std::sync::atomic::AtomicBool::new(false),
        };
        let mut client = serenity::all::ClientBuilder::new_with_http(http.build(), intents)
            .event_handler(handler)
            .await
            .map_err(platform)?;
        client.start().await.map_err(platform)
    }

    /// Whether a message is for clerk, and the shopper's chat key and text if so.
    fn addressed(&self, message: &Message) -> Option<(String, String)> {
        if message.author.bot {
            return None;
        }
        let me = *self.me.get()?;
        let channel = message.channel_id.get();
        if message.guild_id.is_none() {
            return Some((channel.to_string(), message.content.clone()));
        }
        if !self.config.allowed_channels.contains(&channel)
            || !message.mentions.iter().any(|user| user.id == me)
        {
            return None;
        }
        let text = message
            .content
            .replace(&format!("<@{me}>"), "")
            .replace(&format!("<@!{me}>"), "");
        Some((
            format!("{channel}/{}", message.author.id),
            text.trim().to_owned(),
        ))
    }

    async fn take(&self, chat: String, key: String, incoming: Incoming) {
        match self.channel.take_in(&chat, &key, incoming).await {
            Ok(Next::Answer(conversation)) => {
                let channel = self.channel.clone();
                tokio::spawn(async move {
                    if let Err(error) = channel.answer(&chat, &conversation).await {
                        tracing::error!(%error, conversation, "Discord: the answer could not be sent");
                    }
                });
            }
            Ok(Next::Nothing) => {}
            Err(error) => tracing::error!(%error, "Discord: a message could not be taken in"),
        }
    }

    async fn slash_command(&self, ctx: &Context, command: CommandInteraction) {
        if command.data.name != "human" {
            return;
        }
        let channel = command.channel_id.get();
        let chat = if command.guild_id.is_none() {
            channel.to_string()
        } else if self.config.allowed_channels.contains(&channel) {
            format!("{channel}/{}", command.user.id)
        } else {
            // Not a channel clerk serves: no conversation, as for a mention there.
            return;
        };
        // The interaction is acknowledged with the words the shopper is told.
        let words = match self
            .channel
            .record(&chat, &command.id.to_string(), Incoming::Human)
            .await
        {
            Ok(taken) => taken.words.unwrap_or_default(),
            Err(error) => {
                tracing::error!(%error, "Discord: /human failed");
                return;
            }
        };
        let response = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(words)
                .allowed_mentions(CreateAllowedMentions::new()),
        );
        if let Err(error) = command.create_response(&ctx.http, response).await {
            tracing::warn!(%error, "Discord: the /human answer could not be sent");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for DiscordChannel {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.me.set(ready.user.id);
        let _ = self.channel.outlet().http.set(ctx.http.clone());
        tracing::info!(bot = %ready.user.name, "Discord: connected");
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let human = CreateCommand::new("human").description("Talk to a person from the store");
        if let Err(error) = Command::create_global_command(&ctx.http, human).await {
            tracing::warn!(%error, "Discord: /human could not be registered");
        }
        tokio::spawn(self.channel.clone().deliver_outbox(Duration::from_secs(1)));
        let channel = self.channel.clone();
        tokio::spawn(async move {
            if let Err(error) = channel.recover().await {
                tracing::warn!(%error, "Discord: recovery failed");
            }
        });
    }

    async fn message(&self, _ctx: Context, message: Message) {
        let Some((chat, text)) = self.addressed(&message) else {
            return;
        };
        let incoming = if text.trim().is_empty() && !message.attachments.is_empty() {
            Incoming::NotText
        } else {
            Incoming::parse(&text)
        };
        self.take(chat, message.id.to_string(), incoming).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(command) = interaction {
            self.slash_command(&ctx, command).await;
        }
    }
}
