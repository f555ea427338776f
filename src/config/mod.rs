//! Configuration. Every setting comes, in order of precedence, from a command-line flag, its
//! `CLERK_*` environment variable, the configuration file (`--config`, or `clerk.toml` in the
//! working folder when present), or its default.
//!
//! A setting is declared once, as a field of [`GlobalArgs`], [`ServeArgs`] or [`IdentityArgs`]:
//! its flag, environment variable, default and help text are that field's clap attributes, and
//! its key in the file is the field's name (at the file's top level, under `[serve]` or under
//! `[identity]`). [`file`] makes the file's values the command line's defaults, so that clap
//! parses and checks them as it does a flag's; [`load`] parses the command line over them and
//! [`Settings`] adds only what is derived (the database URL, folders used when present).

mod commands;
pub mod file;

pub use commands::*;

use crate::web::limits::ChatLimits;
use clap::{Args, CommandFactory, FromArgMatches, Parser};
use clerk_core::error::{Code, HasCode};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line is wrong, or asks for help or the version (clap's own message, which
    /// [`clap::Error::exit`] prints with the right exit code).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for clerk: a syntax error, an unknown key, or a
    /// value its setting does not take.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting `{name}`: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        message: String,
    },
}

impl HasCode for ConfigError {
    fn code(&self) -> Code {
        Code::InvalidConfig
    }
}

/// clerk: a customer-service agent server for online stores.
#[derive(Debug, Parser)]
#[command(name = "clerk", version, about, long_about = None)]
pub struct Cli {
    /// Settings every command shares.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares: flags, and the configuration file's top-level keys under the
/// same names.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML) [default: ./clerk.toml when present]
    #[arg(long, env = "CLERK_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store's database: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DATA_DIR/store.db]
    #[arg(long, env = "CLERK_DATABASE", global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Folder for clerk's own files
    #[arg(
        long,
        env = "CLERK_DATA_DIR",
        global = true,
        value_name = "DIR",
        default_value = "data"
    )]
    pub data_dir: PathBuf,
    /// Folder of the product search index
    #[arg(
        long,
        env = "CLERK_INDEX_DIR",
        global = true,
        value_name = "DIR",
        default_value = "index"
    )]
    pub index_dir: PathBuf,
    /// Folder whose files override the built-in prompts [default: ./prompts when present]
    #[arg(long, env = "CLERK_PROMPTS_DIR", global = true, value_name = "DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Log filter, such as `info` or `clerk=debug`
    #[arg(
        long,
        env = "CLERK_LOG",
        global = true,
        value_name = "FILTER",
        default_value = "info"
    )]
    pub log: String,
    /// The model: a GGUF file (the bundled model by default, which scripts/fetch-model fetches)
    #[arg(
        long,
        env = "CLERK_MODEL",
        global = true,
        value_name = "GGUF",
        default_value_os_t = clerk_core::cache::default_model_path()
    )]
    pub model: PathBuf,
    /// Seconds one model step may take before the conversation goes to staff
    #[arg(
        long,
        env = "CLERK_MODEL_TIMEOUT",
        global = true,
        value_name = "SECONDS",
        default_value = "600",
        value_parser = seconds
    )]
    pub model_timeout: Duration,
    /// The risk score (0 to 1) at or above which a shopper's refund, return, exchange, address
    /// or payment change is not run on their yes but handed to staff; 1 turns the gate off
    #[arg(
        long,
        env = "CLERK_RISK_THRESHOLD",
        global = true,
        value_name = "SCORE",
        default_value_t = clerk_core::risk::DEFAULT_THRESHOLD,
        value_parser = score
    )]
    pub risk_threshold: f64,
    /// Use a remote OpenAI-compatible model instead of the in-process one: the server's base URL,
    /// up to and including /v1 (mistralrs-server, vLLM, llama.cpp's server)
    #[arg(
        long,
        env = "CLERK_MODEL_URL",
        global = true,
        value_name = "URL",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub model_url: Option<String>,
    /// The model to ask the remote server for
    #[arg(
        long,
        env = "CLERK_MODEL_NAME",
        global = true,
        value_name = "NAME",
        default_value = "default"
    )]
    pub model_name: String,
    /// Bearer token for the remote model server
    #[arg(
        long,
        env = "CLERK_MODEL_API_KEY",
        global = true,
        value_name = "KEY",
        hide_env_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub model_api_key: Option<String>,
    /// Constrain the model's decoding to the steps valid now (JSON schema; a remote server, or
    /// `--runtime mistralrs`); slow on a CPU, worth it on a GPU
    #[arg(long, env = "CLERK_MODEL_CONSTRAINED", global = true)]
    pub model_constrained: bool,
    /// Which in-process runtime runs the GGUF file: `candle` (candle 0.11's quantized Qwen2, the
    /// fastest measured on a CPU) or `mistralrs` (built with the `mistralrs` or `cuda` feature);
    /// the default is mistralrs in a build with `cuda`
    #[arg(
        long,
        env = "CLERK_RUNTIME",
        global = true,
        value_name = "RUNTIME",
        value_enum,
        default_value_t
    )]
    pub runtime: clerk_runtime::local::Runtime,
    /// The sentence-embedding model's folder (all-MiniLM-L6-v2: config.json, model.safetensors,
    /// tokenizer.json, which `scripts/fetch-model embeddings` fetches); without it search
    /// matches words only
    #[arg(
        long,
        env = "CLERK_EMBEDDING_MODEL",
        global = true,
        value_name = "DIR",
        default_value_os_t = clerk_core::embed::default_dir()
    )]
    pub embedding_model: PathBuf,
    /// Folder of the store's help articles (Markdown, one per file), searched by `search_help`
    /// and reloaded when they change [default: ./help when present]
    #[arg(long, env = "CLERK_HELP_DIR", global = true, value_name = "DIR")]
    pub help_dir: Option<PathBuf>,
}

/// Settings of `clerk serve`: flags, and the `[serve]` table of the configuration file under the
/// same names.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(
        long,
        env = "CLERK_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Key that callers of /api must send as `Authorization: Bearer KEY`; required on every
    /// address (`--demo` makes one for the run)
    #[arg(
        long,
        env = "CLERK_API_KEY",
        value_name = "KEY",
        hide_env_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub api_key: Option<String>,
    /// Start on the bundled demo store (imported when the store is empty)
    #[arg(long, env = "CLERK_DEMO")]
    pub demo: bool,
    /// Telegram bot token (from @BotFather); Telegram is served when set
    #[arg(
        long,
        env = "CLERK_TELEGRAM_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub telegram_token: Option<String>,
    /// Telegram Bot API address [default: Telegram's own]
    #[arg(long, env = "CLERK_TELEGRAM_API_URL", value_name = "URL")]
    pub telegram_api_url: Option<reqwest::Url>,
    /// Public HTTPS address of this server's /telegram/webhook: updates then come by webhook
    /// instead of long polling
    #[arg(long, env = "CLERK_TELEGRAM_WEBHOOK_URL", value_name = "URL")]
    pub telegram_webhook_url: Option<reqwest::Url>,
    /// Secret Telegram must send with each webhook request (required with a webhook)
    #[arg(
        long,
        env = "CLERK_TELEGRAM_WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub telegram_webhook_secret: Option<String>,
    /// Discord bot token; Discord is served when set
    #[arg(
        long,
        env = "CLERK_DISCORD_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub discord_token: Option<String>,
    /// Guild channel ids (comma-separated) where a mention of the bot is answered [default:
    /// none, direct messages only]
    #[arg(
        long,
        env = "CLERK_DISCORD_CHANNELS",
        value_name = "IDS",
        value_delimiter = ','
    )]
    pub discord_channels: Vec<u64>,
    /// Another address for Discord's API (a local test server)
    #[arg(long, env = "CLERK_DISCORD_API_PROXY", value_name = "URL")]
    pub discord_api_proxy: Option<String>,
    /// Least milliseconds between two edits of a streamed reply in a messaging app
    #[arg(
        long,
        env = "CLERK_EDIT_INTERVAL_MS",
        value_name = "MS",
        default_value = "1000",
        value_parser = milliseconds
    )]
    pub edit_interval_ms: Duration,
    /// Hours a staff console session lasts (at least 1)
    #[arg(
        long,
        env = "CLERK_SESSION_HOURS",
        value_name = "HOURS",
        default_value = "12",
        value_parser = hours
    )]
    pub session_hours: Duration,
    /// Conversations one client address may start in the web chat per hour
    #[arg(
        long,
        env = "CLERK_CHAT_CONVERSATIONS_PER_HOUR",
        value_name = "N",
        default_value_t = ChatLimits::default().conversations_per_hour
    )]
    pub chat_conversations_per_hour: u32,
    /// Messages one client address may send in the web chat per minute
    #[arg(
        long,
        env = "CLERK_CHAT_MESSAGES_PER_MINUTE",
        value_name = "N",
        default_value_t = ChatLimits::default().messages_per_minute
    )]
    pub chat_messages_per_minute: u32,
    /// Web chat replies being made at once for one client address
    #[arg(
        long,
        env = "CLERK_CHAT_TURNS_PER_ADDRESS",
        value_name = "N",
        default_value_t = ChatLimits::default().turns_per_address
    )]
    pub chat_turns_per_address: u32,
    /// Web chat replies being made at once in all
    #[arg(
        long,
        env = "CLERK_CHAT_TURNS",
        value_name = "N",
        default_value_t = ChatLimits::default().turns
    )]
    pub chat_turns: u32,
    /// Days after which conversations nobody handles, and records of staff actions, are deleted;
    /// 0 keeps them
    #[arg(
        long,
        env = "CLERK_RETENTION_DAYS",
        value_name = "DAYS",
        default_value_t = 365
    )]
    pub retention_days: u64,
    /// Minutes after which a conversation the bot owns and nobody wrote in is closed; 0 never
    /// closes
    #[arg(
        long,
        env = "CLERK_IDLE_CLOSE_MINUTES",
        value_name = "MINUTES",
        default_value_t = 60
    )]
    pub idle_close_minutes: u64,
    /// Addresses of reverse proxies in front of clerk (comma-separated): from them, the client's
    /// address is read from `X-Forwarded-For`, which is ignored from anyone else [default: none]
    #[arg(
        long,
        env = "CLERK_TRUSTED_PROXIES",
        value_name = "ADDRESSES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Mark the staff session cookie Secure (when clerk is served behind HTTPS)
    #[arg(long, env = "CLERK_SECURE_COOKIE")]
    pub secure_cookie: bool,
    /// Folder of the console's chart scripts (vega, vega-lite, vega-embed), fetched by
    /// scripts/fetch-charts
    #[arg(
        long,
        env = "CLERK_CHART_SCRIPTS",
        value_name = "DIR",
        default_value_os_t = clerk_core::cache::default_chart_scripts()
    )]
    pub chart_scripts: PathBuf,
    /// Verified shoppers and the embedded chat (the file's `[identity]` table).
    #[command(flatten)]
    pub identity: IdentityArgs,
}

impl ServeArgs {
    /// How long a conversation the bot owns may stay idle before it is closed; `None`: never.
    pub fn idle_close(&self) -> Option<Duration> {
        (self.idle_close_minutes > 0).then(|| Duration::from_secs(60 * self.idle_close_minutes))
    }

    /// How long conversations nobody handles and records of staff actions are kept; `None`: for
    /// ever.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_days > 0).then(|| Duration::from_secs(86_400 * self.retention_days))
    }

    /// The web chat's limits per client address and overall.
    pub fn chat_limits(&self) -> ChatLimits {
        ChatLimits {
            conversations_per_hour: self.chat_conversations_per_hour,
            messages_per_minute: self.chat_messages_per_minute,
            turns_per_address: self.chat_turns_per_address,
            turns: self.chat_turns,
        }
    }

    /// Checks what cannot work together: a webhook without its secret, and the identity
    /// settings' own checks.
    fn check(&self) -> Result<(), ConfigError> {
        if self.telegram_webhook_url.is_some() && self.telegram_webhook_secret.is_none() {
            // Without it anyone who reaches the server could post updates as any chat.
            return Err(ConfigError::Invalid {
                name: "telegram_webhook_secret",
                message:
                    "a Telegram webhook needs a secret (1 to 256 letters, digits, '_' or '-'), \
                          the same on every instance"
                        .to_owned(),
            });
        }
        self.identity.check()
    }
}

/// Verified shoppers and the chat embedded in a store's site: flags of `clerk serve`, and the
/// `[identity]` table of the configuration file under the same names.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct IdentityArgs {
    /// Secret shared with the store's site, which signs its logged-in customer's user id with it
    /// (a JWT, HS256: claims sub, exp, jti); web conversations opened with such a token start
    /// authenticated [default: none, signed identity off]
    #[arg(
        long,
        env = "CLERK_IDENTITY_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub identity_secret: Option<String>,
    /// How shoppers prove who they are: `email` (email, or name and zip, in the chat, as well as
    /// the verified ways) or `verified` (only a signed identity or a linked app chat)
    #[arg(
        long,
        env = "CLERK_SHOPPER_AUTH",
        value_name = "MODE",
        value_enum,
        default_value_t
    )]
    pub shopper_auth: clerk_core::identity::ShopperAuth,
    /// SMTP server for link codes by email: smtp://USER:PASSWORD@HOST:587?tls=required
    /// (STARTTLS), smtps://USER:PASSWORD@HOST:465 (TLS), or smtp://HOST:25 (no TLS: a relay on
    /// the same machine) [default: none, no email]
    #[arg(
        long,
        env = "CLERK_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// The sender of those emails, such as `Store <help@store.example>`
    #[arg(long, env = "CLERK_SMTP_FROM", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// Origins of the store's site that may embed the web chat and call its API
    /// (comma-separated, such as https://shop.example) [default: none, clerk's own only]
    #[arg(
        long,
        env = "CLERK_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
}
impl IdentityArgs {
    /// Checks what cannot work: a short secret, an origin that is not one, email without a
    /// sender.
    fn check(&self) -> Result<(), ConfigError> {
        if self.identity_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::Invalid {
                name: "identity_secret",
                message:
                    "use at least 32 characters of random text (an HMAC key anyone could guess \
                          lets them sign in as any customer)"
                        .to_owned(),
            });
        }
        if self.smtp_url.is_some() && self.smtp_from.is_none() {
            return Err(ConfigError::Invalid {
                name: "smtp_from",
                message: "emails need a sender: set smtp_from with the SMTP server".to_owned(),
            });
        }
        for origin in &self.allowed_origins {
            let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', '*', ' '])
            });
            if !valid {
                return Err(ConfigError::Invalid {
                    name: "allowed_origins",
                    message: format!(
                        "{origin:?} is not an origin: give scheme, host and port only, such as https://shop.example"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Every setting, resolved: flags over environment over the file over the defaults (the
/// declarations above), and what is derived from them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The settings every command shares.
    pub global: GlobalArgs,
    /// `serve`'s settings; for another command, those the file, the environment and the
    /// defaults give (the identity settings apply to `clerk chat` too).
    pub serve: ServeArgs,
    /// The store's database URL: `database`, else `sqlite://DATA_DIR/store.db`.
    pub database: String,
    /// The folder overriding the built-in prompts: `prompts_dir`, else `./prompts` when it is a
    /// folder.
    pub prompts_dir: Option<PathBuf>,
    /// The help articles' folder: `help_dir`, else `./help` when it is a folder.
    pub help_dir: Option<PathBuf>,
}

/// A command line, read: what to do, and the settings to do it with.
#[derive(Debug)]
pub struct Invocation {
    /// What to do.
    pub command: Command,
    /// The settings.
    pub settings: Settings,
}

/// Reads the command line `args` (the binary's name first) over the environment and the
/// configuration file, and checks the settings.
pub fn load<I, T>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = Cli::command()
        .mut_args(empty_env_unset)
        .mut_subcommand("serve", |serve| serve.mut_args(empty_env_unset));
    if let Some(path) = config_path(&command, &args) {
        command = file::apply(command, &path)?;
    }
    let matches = command.try_get_matches_from_mut(&args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let serve = match &cli.command {
        Command::Serve(serve) => serve.clone(),
        _ => serve_defaults(&mut command)?,
    };
    let settings = Settings::resolve(cli.global, serve)?;
    Ok(Invocation {
        command: cli.command,
        settings,
    })
}

impl Settings {
    /// The declared defaults alone: no flag, no environment variable, no file, no folder looked
    /// for (tests and tools that set their own).
    pub fn defaults() -> Settings {
        let mut command = Cli::command()
            .mut_args(|arg| arg.env(None))
            .mut_subcommand("serve", |serve| serve.mut_args(|arg| arg.env(None)));
        let matches = command
            .try_get_matches_from_mut(["clerk", "serve"])
            .expect("the defaults parse");
        let cli = Cli::from_arg_matches(&matches).expect("the defaults parse");
        let Command::Serve(serve) = cli.command else {
            unreachable!("parsed `clerk serve`")
        };
        let data_dir = cli.global.data_dir.clone();
        Settings {
            database: default_database(&data_dir),
            global: cli.global,
            serve,
            prompts_dir: None,
            help_dir: None,
        }
    }

    /// Derives what the declarations leave open (folders looked for in the working folder)
    /// and checks the settings together.
    fn resolve(global: GlobalArgs, serve: ServeArgs) -> Result<Settings, ConfigError> {
        let present = |name: &str| Some(PathBuf::from(name)).filter(|dir| dir.is_dir());
        serve.check()?;
        if let Some(dir) = &global.prompts_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::Invalid {
                name: "prompts_dir",
                message: format!("{} is not a folder", dir.display()),
            });
        }
        Ok(Settings {
            database: global
                .database
                .clone()
                .unwrap_or_else(|| default_database(&global.data_dir)),
            prompts_dir: global.prompts_dir.clone().or_else(|| present("prompts")),
            help_dir: global.help_dir.clone().or_else(|| present("help")),
            global,
            serve,
        })
    }
}

/// The store in the data folder.
fn default_database(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("store.db").display())
}

/// `serve`'s settings for a command that is not `serve`: its declarations, with the file's
/// values and the environment.
fn serve_defaults(command: &mut clap::Command) -> Result<ServeArgs, ConfigError> {
    let serve = command
        .find_subcommand_mut("serve")
        .expect("serve is a command");
    Ok(ServeArgs::from_arg_matches(
        &serve.try_get_matches_from_mut(["serve"])?,
    )?)
}

/// The configuration file: `--config` (or `CLERK_CONFIG`), else `./clerk.toml` when present.
fn config_path(command: &clap::Command, args: &[OsString]) -> Option<PathBuf> {
    // A first, lenient reading, for `--config` alone (the rest is read once the file's values
    // are in place).
    let given = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()
        .and_then(|matches| matches.get_one::<PathBuf>("config").cloned());
    given
        .or_else(|| {
            std::env::var_os("CLERK_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| Some(PathBuf::from("clerk.toml")).filter(|file| file.exists()))
}

/// An environment variable set to the empty string counts as unset (`CLERK_TOKEN=` in a
/// service file leaves the setting to the file and the default).
fn empty_env_unset(arg: clap::Arg) -> clap::Arg {
    let empty = arg
        .get_env()
        .and_then(std::env::var_os)
        .is_some_and(|value| value.is_empty());
    if empty { arg.env(None) } else { arg }
}

/// Whole seconds, as a duration.
fn seconds(text: &str) -> Result<Duration, String> {
    whole(text).map(Duration::from_secs)
}

/// Whole milliseconds, as a duration.
fn milliseconds(text: &str) -> Result<Duration, String> {
    whole(text).map(Duration::from_millis)
}

/// Whole hours, at least one, as a duration.
fn hours(text: &str) -> Result<Duration, String> {
    match whole(text)? {
        0 => Err("at least 1 hour".to_owned()),
        hours => Ok(Duration::from_secs(3600 * hours)),
    }
}

fn whole(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("expected a whole number, not {text:?}"))
}

/// A score from 0 to 1.
fn score(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(score) if (0.0..=1.0).contains(&score) => Ok(score),
        _ => Err(format!("{text} is not a score from 0 to 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clerk ARGS…` with the configuration file `toml` (a fresh folder's `clerk.toml`).
    fn load_with(toml: &str, args: &[&str]) -> Result<Invocation, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clerk.toml");
        std::fs::write(&file, toml).unwrap();
        let config = format!("--config={}", file.display());
        load(["clerk", &config].into_iter().chain(args.iter().copied()))
    }

    fn error(toml: &str, args: &[&str]) -> String {
        load_with(toml, args).unwrap_err().to_string()
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let file = "database = \"sqlite:///from/file.db\"\nindex_dir = \"/idx\"\nmodel_timeout = 30\n\
                    [serve]\nlisten = \"127.0.0.1:9000\"\ndemo = true\n\
                    trusted_proxies = [\"10.0.0.1\"]\nretention_days = 7\n\
                    [identity]\nshopper_auth = \"verified\"\nallowed_origins = [\"https://shop.example\"]\n";
        let run = load_with(file, &["--database", "postgres://flag@h/db", "serve"]).unwrap();
        let settings = run.settings;
        assert_eq!(settings.database, "postgres://flag@h/db");
        assert_eq!(settings.global.index_dir, PathBuf::from("/idx"));
        assert_eq!(settings.global.model_timeout, Duration::from_secs(30));
        assert_eq!(settings.global.data_dir, PathBuf::from("data"));
        assert_eq!(settings.serve.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(settings.serve.demo);
        assert_eq!(
            settings.serve.retention(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(settings.serve.idle_close(), Some(Duration::from_secs(3600)));
        assert_eq!(
            settings.serve.identity.shopper_auth,
            clerk_core::identity::ShopperAuth::Verified
        );
        assert_eq!(
            settings.serve.identity.allowed_origins,
            ["https://shop.example"]
        );

        // A flag beats the file's `[serve]` value, lists included; the subcommand's own flags
        // come after it.
        let run = load_with(file, &["serve", "--trusted-proxies", "10.0.0.2,10.0.0.3"]).unwrap();
        assert_eq!(
            run.settings.serve.trusted_proxies,
            ["10.0.0.2", "10.0.0.3"].map(|a| a.parse::<std::net::IpAddr>().unwrap())
        );

        // Another command still reads the file's `[serve]` and `[identity]` tables.
        let run = load_with(file, &["tools"]).unwrap();
        assert!(matches!(run.command, Command::Tools));
        assert_eq!(run.settings.serve.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(run.settings.database, "sqlite:///from/file.db");

        // No file: the declared defaults, which `Settings::defaults` gives too.
        let run = load_with("", &["serve"]).unwrap().settings;
        let defaults = Settings::defaults();
        assert_eq!(run.database, "sqlite://data/store.db");
        assert_eq!(run.serve.listen, defaults.serve.listen);
        assert_eq!(run.serve.chat_limits(), ChatLimits::default());
        assert_eq!(
            run.global.risk_threshold,
            clerk_core::risk::DEFAULT_THRESHOLD
        );
        assert_eq!(run.serve.session_hours, Duration::from_secs(12 * 3600));
    }

    /// The README's table of settings, made from the declarations: flag, environment
    /// variable, key in the file, default (the help's `[default: …]`, else clap's), help.
    fn settings_table() -> String {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        let identity: Vec<String> = IdentityArgs::augment_args(clap::Command::new("identity"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let home = std::env::var("HOME").unwrap_or_else(|_| "/nowhere".to_owned());
        let models = clerk_core::cache::model_cache_dir().display().to_string();
        let mut rows = vec![
            "| flag | environment | `clerk.toml` | default | what it sets |".to_owned(),
            "|---|---|---|---|---|".to_owned(),
        ];
        let args = command
            .get_arguments()
            .map(|arg| ("", arg))
            .chain(serve.get_arguments().map(|arg| ("serve ", arg)));
        for (prefix, arg) in args.filter(|(_, arg)| arg.get_id() != "config") {
            let id = arg.get_id().as_str();
            let Some(long) = arg.get_long() else { continue };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let (help, bracket) = match help.rsplit_once(" [default: ") {
                Some((help, default)) => (
                    help.to_owned(),
                    Some(default.trim_end_matches(']').to_owned()),
                ),
                None => (help, None),
            };
            let declared: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| {
                    v.to_string_lossy()
                        .replace(&models, "~/.cache/clerk/models")
                        .replace(&home, "~")
                })
                .collect();
            let default = match bracket {
                Some(text) => text,
                None if matches!(arg.get_action(), clap::ArgAction::SetTrue) => "off".to_owned(),
                None if declared.is_empty() => "none".to_owned(),
                None => format!("`{}`", declared.join(",")),
            };
            let value = match arg.get_action() {
                clap::ArgAction::SetTrue => String::new(),
                _ => arg
                    .get_value_names()
                    .map(|names| format!(" {}", names[0]))
                    .unwrap_or_default(),
            };
            let key = match prefix {
                "" => format!("`{id}`"),
                _ if identity.iter().any(|i| i == id) => format!("`[identity] {id}`"),
                _ => format!("`[serve] {id}`"),
            };
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            rows.push(format!(
                "| `{prefix}--{long}{value}` | `{env}` | {key} | {default} | {} |",
                help.replace('|', "\\|").replace('\n', " ")
            ));
        }
        rows.join("\n") + "\n"
    }

    #[test]
    fn the_readme_lists_every_setting_as_declared() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = settings_table();
        assert!(
            readme.contains(&table),
            "README.md's table of settings differs from the declarations in src/config/mod.rs; \
             put this one in its place:\n\n{table}"
        );
    }

    #[test]
    fn a_wrong_file_or_setting_is_named_and_refused() {
        let webhook = error(
            "",
            &[
                "serve",
                "--telegram-webhook-url",
                "https://shop.example/telegram/webhook",
            ],
        );
        assert!(
            webhook.contains("a Telegram webhook needs a secret"),
            "{webhook}"
        );
        let origin = error(
            "[identity]\nallowed_origins = [\"https://shop.example/page\"]\n",
            &["serve"],
        );
        assert!(origin.contains("is not an origin"), "{origin}");
        let short = error("", &["serve", "--identity-secret", "secret"]);
        assert!(short.contains("at least 32 characters"), "{short}");

        let typo = error("databse = \"typo\"\n", &["tools"]);
        assert!(
            typo.contains("unknown setting `databse` at the top level"),
            "{typo}"
        );
        let misplaced = error("[serve]\ndatabase = \"sqlite://x.db\"\n", &["tools"]);
        assert!(
            misplaced.contains("unknown setting `database` under [serve]"),
            "{misplaced}"
        );
        let identity_in_serve = error("[serve]\nshopper_auth = \"verified\"\n", &["tools"]);
        assert!(
            identity_in_serve.contains("unknown setting `shopper_auth` under [serve]"),
            "{identity_in_serve}"
        );
        let not_a_table = error("serve = 1\n", &["tools"]);
        assert!(not_a_table.contains("must be a table"), "{not_a_table}");
        // Values go through the same checks as a flag's, and name the key.
        let address = error("[serve]\nlisten = \"somewhere\"\n", &["tools"]);
        assert!(
            address.contains("`listen` under [serve]: invalid value 'somewhere'"),
            "{address}"
        );
        let threshold = error("risk_threshold = 1.5\n", &["tools"]);
        assert!(
            threshold.contains("1.5 is not a score from 0 to 1"),
            "{threshold}"
        );
        let flag = error("[serve]\ndemo = \"yes\"\n", &["tools"]);
        assert!(
            flag.contains("`demo` under [serve]: true or false"),
            "{flag}"
        );
        let zero = error("", &["serve", "--session-hours", "0"]);
        assert!(zero.contains("at least 1 hour"), "{zero}");
        let syntax = error("listen = \n", &["tools"]);
        assert!(syntax.contains("invalid configuration file"), "{syntax}");
    }
}
