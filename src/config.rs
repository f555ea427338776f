//! Configuration. Every setting comes, in order of precedence, from a command-line flag, its
//! `CLERK_*` environment variable, the configuration file (`--config`, or `clerk.toml` in the
//! working folder when present), or its default. [`Settings`] is the result.
//!
//! A setting is declared once, as a field of [`GlobalArgs`], [`ServeArgs`] or [`IdentityArgs`]:
//! the same struct reads the flags (clap) and the file's top level, `[serve]` or `[identity]`
//! table (serde, unknown keys refused); each struct's `or` puts the flags over the file, and
//! [`Settings::resolve`] applies the defaults.

use clap::{Args, Parser, Subcommand, ValueEnum};
use clerk_core::error::{Code, HasCode};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for clerk.
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
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalArgs {
    /// Configuration file (TOML) [default: ./clerk.toml when present]
    #[arg(long, env = "CLERK_CONFIG", global = true, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The store's database: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DATA_DIR/store.db]
    #[arg(long, env = "CLERK_DATABASE", global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Folder for clerk's own files [default: ./data]
    #[arg(long, env = "CLERK_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Folder of the product search index [default: ./index]
    #[arg(long, env = "CLERK_INDEX_DIR", global = true, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Folder whose files override the built-in prompts [default: ./prompts when present]
    #[arg(long, env = "CLERK_PROMPTS_DIR", global = true, value_name = "DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Log filter, such as `info` or `clerk=debug` [default: info]
    #[arg(long, env = "CLERK_LOG", global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// The model: a GGUF file [default: the bundled model, ~/.cache/clerk/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf]
    #[arg(long, env = "CLERK_MODEL", global = true, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// Seconds one model step may take before the conversation goes to staff [default: 600]
    #[arg(
        long,
        env = "CLERK_MODEL_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub model_timeout: Option<u64>,
    /// The risk score (0 to 1) at or above which a shopper's refund, return, exchange, address
    /// or payment change is not run on their yes but handed to staff; 1 turns the gate off
    /// [default: 0.6]
    #[arg(
        long,
        env = "CLERK_RISK_THRESHOLD",
        global = true,
        value_name = "SCORE"
    )]
    pub risk_threshold: Option<f64>,
    /// Use a remote OpenAI-compatible model instead of the in-process one: the server's base URL,
    /// up to and including /v1 (mistralrs-server, vLLM, llama.cpp's server)
    #[arg(long, env = "CLERK_MODEL_URL", global = true, value_name = "URL")]
    pub model_url: Option<String>,
    /// The model to ask the remote server for [default: default]
    #[arg(long, env = "CLERK_MODEL_NAME", global = true, value_name = "NAME")]
    pub model_name: Option<String>,
    /// Bearer token for the remote model server
    #[arg(
        long,
        env = "CLERK_MODEL_API_KEY",
        global = true,
        value_name = "KEY",
        hide_env_values = true
    )]
    pub model_api_key: Option<String>,
    /// Constrain the model's decoding to the steps valid now (JSON schema; a remote server, or
    /// `--runtime mistralrs`); slow on a CPU, worth it on a GPU [default: false]
    #[arg(long, env = "CLERK_MODEL_CONSTRAINED", global = true)]
    pub model_constrained: bool,
    /// Which in-process runtime runs the GGUF file: `candle` (candle 0.11's quantized Qwen2, the
    /// fastest measured on a CPU) or `mistralrs` (built with the `mistralrs` or `cuda` feature)
    /// [default: candle; mistralrs when built with `cuda`]
    #[arg(long, env = "CLERK_RUNTIME", global = true, value_name = "RUNTIME")]
    pub runtime: Option<clerk_runtime::local::Runtime>,
    /// The sentence-embedding model's folder (all-MiniLM-L6-v2: config.json, model.safetensors,
    /// tokenizer.json); without it search matches words only [default: ~/.cache/clerk/models/all-MiniLM-L6-v2]
    #[arg(long, env = "CLERK_EMBEDDING_MODEL", global = true, value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,
    /// Folder of the store's help articles (Markdown, one per file), searched by `search_help`
    /// and reloaded when they change [default: ./help when present]
    #[arg(long, env = "CLERK_HELP_DIR", global = true, value_name = "DIR")]
    pub help_dir: Option<PathBuf>,
}

/// A data format clerk imports and exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The tau2-retail `db.json` shape: products, users and orders.
    #[value(name = "tau2-retail")]
    Tau2Retail,
    /// The Ta-Feng supermarket's transaction lines (CSV, gzipped or not): import only.
    #[value(name = "ta-feng")]
    TaFeng,
    /// Product reviews (CSV: clerk's `product_id,user_id,rating,title,text,date`, or the Women's
    /// E-Commerce Clothing Reviews, whose garments become the catalog): import only.
    Reviews,
    /// Stock counts and supplier lead times of the catalog's items (CSV:
    /// `item_id,stock,lead_time_days`; an empty cell leaves that value as it is): import only.
    Stock,
}

/// What to do.
// Parsed once per run: the size of `serve`'s many settings costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (health, tools) on localhost.
    Serve(ServeArgs),
    /// Load a whole store from a file.
    Import {
        /// The file's format.
        format: Format,
        /// The file.
        file: PathBuf,
        /// Delete the store's current records first.
        #[arg(long)]
        replace: bool,
    },
    /// Train the store's models on its history and save them, with what they saw, under the
    /// data directory (`models/`): the recommender (from the orders) and the sentiment model
    /// (from the store's reviews, when it has at least 1,000); and embed the catalog's products
    /// for hybrid search (beside the index). A running server loads them at its next start.
    Train {
        /// Also fine-tune the sentence model's top layers on the store's reviews, to read them
        /// better than words alone (`clerk bench sentiment`). Needs the embedding model; about
        /// an hour for 20,000 reviews on two cores.
        #[arg(long)]
        tune_encoder: bool,
        /// Passes over the reviews when tuning the encoder.
        #[arg(long, default_value_t = 2, value_name = "N", requires = "tune_encoder")]
        tune_epochs: usize,
    },
    /// Score text read from standard input, one line each: one JSON object per line,
    /// `{"label":"negative|neutral|positive","score":-1..1}`, read as a shopper's message (the
    /// VADER lexicon) or, with `--review`, as a review (the trained model, with the store's tuned
    /// encoder when `clerk train --tune-encoder` made one). With `--train FILE`,
    /// train a model on a reviews CSV instead (the shapes `clerk import reviews` reads) and write
    /// it to `--output`.
    Sentiment {
        /// Read each line as a product review (the trained model) rather than a chat message.
        #[arg(long)]
        review: bool,
        /// Train on this reviews CSV (gzipped or not) instead of scoring.
        #[arg(long, value_name = "FILE")]
        train: Option<PathBuf>,
        /// Where `--train` writes the model [default: the data directory's models/sentiment.json]
        #[arg(long, value_name = "FILE", requires = "train")]
        output: Option<PathBuf>,
    },
    /// Print the whole store.
    Export {
        /// The format.
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Run one tool against the store and print one JSON object: {"ok":true,"output":…} or {"ok":false,"error":…}.
    Tool {
        /// The tool's name (see `clerk tools`).
        name: String,
        /// The arguments, as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
    },
    /// List the tools with their descriptions and schemas (JSON).
    Tools,
    /// Manage the product search index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Edit the catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Chat with the store's agent in the terminal. With standard input not a terminal, reads one
    /// message per line and prints each reply (replies only; tool traces go to the log).
    Chat {
        /// As the store's merchant (the person with the store's database in hand): the agent's
        /// merchant mode, with the analytics, forecasting and risk tools, never a shopper's
        #[arg(long)]
        merchant: bool,
    },
    /// Measure clerk beside a peer run side by side, and write the results as JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Evaluate the agent on reference tasks with a simulated shopper.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Manage staff console accounts.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// A customer's data, on their request: export it, or erase it.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// The risk scores of shoppers' writes: list them, and label outcomes.
    #[command(subcommand)]
    Risk(RiskCommand),
}

/// The risk scores of shoppers' writes.
#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Label what became of an order's scored requests (fraud or legit); labels are what the
    /// supervised risk model learns from.
    Label {
        /// The order id, such as "#W2378156".
        order_id: String,
        /// What it turned out to be.
        #[arg(value_parser = ["fraud", "legit"])]
        outcome: String,
    },
    /// The requests scored in the last days, highest first, as JSON.
    List {
        /// How many days back.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Only those scoring at least this (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        min_score: f64,
    },
}

/// A customer's data.
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Write everything the store holds about a customer as JSON: their record, orders,
    /// conversations with every message, and the app accounts they wrote from.
    Export {
        /// The customer's user id.
        user_id: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Erase a customer: conversations and messages deleted, orders kept for bookkeeping with
    /// the address blanked, the record reduced to its payment methods under an opaque id. The
    /// erasure is recorded, without personal data.
    Erase {
        /// The customer's user id.
        user_id: String,
        /// Required: erasing cannot be undone.
        #[arg(long)]
        confirm: bool,
    },
}

/// Staff console accounts.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account (or reset its password and role). The password is read from
    /// CLERK_STAFF_PASSWORD, else from the first line of standard input.
    Add {
        /// The username.
        username: String,
        /// `staff` (answers shoppers) or `merchant` (also merchant mode).
        #[arg(long, default_value = "staff")]
        role: String,
    },
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Import, indexing and search latency on the demo store (in a scratch folder), beside an
    /// in-memory scan.
    Search {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/search.json")]
        output: PathBuf,
        /// Passes over the benchmark's queries.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
        /// Products of the generated catalog on which clerk and SQLite FTS5 are compared (0:
        /// skip that part).
        #[arg(long, default_value_t = 1_000_000)]
        products: usize,
        /// Passes over the queries on the generated catalog.
        #[arg(long, default_value_t = 5)]
        scale_rounds: usize,
    },
    /// The in-process model's prompt and decode tokens/s (500- and 2,000-token prompts), warm-up
    /// and first words of a new conversation, for each runtime built in (candle; mistral.rs with
    /// the `mistralrs` feature), beside llama.cpp's llama-bench on the same GGUF file.
    Llm {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/llm.json")]
        output: PathBuf,
        /// llama.cpp's llama-bench binary (scripts/build-llama-bench builds one); without it,
        /// only clerk is measured
        #[arg(long, env = "CLERK_LLAMA_BENCH", value_name = "PATH")]
        llama_bench: Option<PathBuf>,
    },
    /// The merchant's analytics tools on the Ta-Feng history, each beside its SQL run directly,
    /// on SQLite and (with `--postgres`) PostgreSQL.
    Analytics {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/analytics.json")]
        output: PathBuf,
        #[command(flatten)]
        ta_feng: TaFengFile,
        /// A PostgreSQL database to measure on too (its store's records are replaced)
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Calls of each case per database
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// The recommender on the Ta-Feng history with its last 30 days held out (HR@10, NDCG@10),
    /// beside global popularity and "own most-bought, then popular" on the same split.
    Recommend {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/recommend.json")]
        output: PathBuf,
        #[command(flatten)]
        ta_feng: TaFengFile,
        /// A purchase this many days old counts half [default: the recommender's own]
        #[arg(long)]
        half_life_days: Option<f64>,
        /// Weight of items bought together with the customer's [default: the recommender's own]
        #[arg(long)]
        together_weight: Option<f64>,
        /// Weight of recent popularity [default: the recommender's own]
        #[arg(long)]
        popular_weight: Option<f64>,
        /// "Recent" popularity: the last this many days [default: the recommender's own]
        #[arg(long)]
        popular_days: Option<i64>,
        /// An item's popularity halves over this many days [default: the recommender's own]
        #[arg(long)]
        popularity_half_life_days: Option<f64>,
        /// Use only the history up to this day (YYYY-MM-DD), e.g. to check the knobs on an
        /// earlier split than the one reported
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Neighbours kept per item [default: the recommender's own]
        #[arg(long)]
        neighbours: Option<usize>,
    },
    /// The demand forecast on Dominick's orange juice: each store × brand's last 12 weeks
    /// forecast one step ahead; WAPE beside the naive last week, the 4-week mean and a linear
    /// model on the same features, trained in the same run.
    Demand {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/demand.json")]
        output: PathBuf,
        /// Dominick's orange-juice CSV, gzipped or not (the evaluation's copy:
        /// `../shared/data/demand/dominicks_orange_juice.csv.gz`).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// Price elasticities on Dominick's orange juice: the units after each price move of more
    /// than 5 % (held out) predicted from per-brand own and cross elasticities, beside no
    /// elasticity and one pooled elasticity; each brand's own-price elasticity.
    Pricing {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/pricing.json")]
        output: PathBuf,
        /// Dominick's orange-juice CSV, gzipped or not (the evaluation's copy:
        /// `../shared/data/demand/dominicks_orange_juice.csv.gz`).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// The fraud model's trees on the ULB card-fraud data (a stratified 80/20 split, fixed
    /// seed): AUPRC and recall at 1 % false positives beside logistic regression trained in the
    /// same run.
    Fraud {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/fraud.json")]
        output: PathBuf,
        /// The card-fraud CSV, gzipped or not (the evaluation's copy:
        /// `../shared/data/fraud/creditcard.csv.gz`).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// The sentiment model on the Women's E-Commerce Clothing Reviews (a stratified 80/20
    /// split, fixed seed) beside the VADER lexicon and TF-IDF + logistic regression trained in
    /// the same run: macro-F1 and accuracy; and the three on the short chat messages of
    /// `fixtures/sentiment/chat_messages.tsv`. With the sentence model installed, also the
    /// encoder `clerk train --tune-encoder` tunes (about an hour on two cores).
    Sentiment {
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/sentiment.json")]
        output: PathBuf,
        /// The reviews CSV (`scripts/fetch-data reviews` fetches it).
        #[arg(
            long,
            default_value = "data/datasets/womens_clothing_ecommerce_reviews.csv.gz",
            value_name = "FILE"
        )]
        data: PathBuf,
    },
}

/// Evaluations.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run the agent on tau2-retail tasks against a simulated shopper played by the model, and
    /// score each as the reference does: the final store must equal the one the task's reference
    /// actions produce.
    Tau2 {
        /// The tasks file [default: the bundled tau2-retail train tasks]
        #[arg(long, value_name = "FILE")]
        tasks: Option<PathBuf>,
        /// How many tasks, from the first [default: 10]
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Only these task ids (comma-separated)
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Trials per task (pass^k is reported for every k up to this)
        #[arg(long, default_value_t = 1)]
        trials: usize,
        /// Most shopper messages per conversation
        #[arg(long, default_value_t = 12)]
        max_turns: usize,
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/eval-tau2.json")]
        output: PathBuf,
    },
    /// Play fixed shopper conversations, one or more for every job (identify, order status,
    /// tracking, products, cancel, modify, return, exchange, handoff…), on the demo store, and
    /// check each by machine: the final store, the tools that answered, the facts the replies
    /// state, handoffs, and the policy.
    Conversations {
        /// The conversations file [default: the bundled fixtures/eval/conversations.toml]
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Only these conversation ids (comma-separated)
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Only these jobs (comma-separated)
        #[arg(long, value_delimiter = ',')]
        jobs: Vec<String>,
        /// At most this many conversations, from the first
        #[arg(long)]
        limit: Option<usize>,
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/eval-conversations.json")]
        output: PathBuf,
    },
    /// Ask the merchant's questions (sales, products, customers, what changed; follow-ups and
    /// periods such as "in December") on a scratch copy of the Ta-Feng store, and check each
    /// answer by machine: the right tool, every figure as the question's own SQL computes it (to
    /// the cent or 0.5 %), and a chart where one was asked.
    Merchant {
        /// The Ta-Feng history to build the store from (`scripts/fetch-data ta-feng` fetches
        /// it; CSV, gzipped or not)
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The questions file [default: the bundled fixtures/eval/merchant.toml]
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Answer with each question's reference call and a reply quoting its figures instead
        /// of a model: checks the tools' figures against the SQL, and the eval itself
        #[arg(long)]
        reference: bool,
        /// Only these question ids (comma-separated)
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Where to write the results.
        #[arg(long, default_value = "bench-results/eval-merchant.json")]
        output: PathBuf,
    },
}

/// Index commands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Rebuild the index from the store now.
    Rebuild,
}

/// Catalog edits.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Change an item's price, availability, stock count or supplier lead time.
    SetItem {
        /// The item id.
        item_id: String,
        /// New price, in dollars.
        #[arg(long)]
        price: Option<f64>,
        /// Whether it can be ordered.
        #[arg(long)]
        available: Option<bool>,
        /// Units on hand, or `unknown` to stop counting them.
        #[arg(long, value_name = "N|unknown", value_parser = count_or_unknown)]
        stock: Option<Count>,
        /// Days from ordering more from the supplier to having it on hand, or `unknown`.
        #[arg(long, value_name = "DAYS|unknown", value_parser = lead_time_or_unknown)]
        lead_time_days: Option<Count>,
    },
}

/// The Ta-Feng history a bench reads.
#[derive(Debug, Clone, Args)]
pub struct TaFengFile {
    /// The Ta-Feng CSV, gzipped or not (`scripts/fetch-data ta-feng` fetches it).
    #[arg(
        long = "data",
        default_value = "data/datasets/ta_feng.csv.gz",
        value_name = "FILE"
    )]
    pub path: PathBuf,
}

/// A count a flag sets, or `unknown` (`None`): see [`CatalogCommand::SetItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub Option<i64>);

/// `N` (at least 0) or `unknown`.
fn count_or_unknown(text: &str) -> Result<Count, String> {
    bounded_count(text, i64::MAX)
}

/// Days, 0 to 365, or `unknown`.
fn lead_time_or_unknown(text: &str) -> Result<Count, String> {
    bounded_count(text, clerk_core::import::stock::MAX_LEAD_TIME_DAYS)
}

fn bounded_count(text: &str, max: i64) -> Result<Count, String> {
    if text.eq_ignore_ascii_case("unknown") {
        return Ok(Count(None));
    }
    match text.parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(Count(Some(n))),
        _ => Err(format!(
            "expected a whole number from 0 to {max}, or `unknown`"
        )),
    }
}

/// Settings of `clerk serve`: flags, and the `[serve]` table of the configuration file under the
/// same names.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "CLERK_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Key that callers of /api must send as `Authorization: Bearer KEY`; required on every
    /// address (`--demo` makes one for the run)
    #[arg(
        long,
        env = "CLERK_API_KEY",
        value_name = "KEY",
        hide_env_values = true
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
        hide_env_values = true
    )]
    pub telegram_token: Option<String>,
    /// Telegram Bot API address [default: Telegram's own]
    #[arg(long, env = "CLERK_TELEGRAM_API_URL", value_name = "URL")]
    pub telegram_api_url: Option<String>,
    /// Public HTTPS address of this server's /telegram/webhook: updates then come by webhook
    /// instead of long polling
    #[arg(long, env = "CLERK_TELEGRAM_WEBHOOK_URL", value_name = "URL")]
    pub telegram_webhook_url: Option<String>,
    /// Secret Telegram must send with each webhook request
    #[arg(
        long,
        env = "CLERK_TELEGRAM_WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub telegram_webhook_secret: Option<String>,
    /// Discord bot token; Discord is served when set
    #[arg(
        long,
        env = "CLERK_DISCORD_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub discord_token: Option<String>,
    /// Guild channel ids (comma-separated) where a mention of the bot is answered
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
    /// Least milliseconds between two edits of a streamed reply in a messaging app [default: 1000]
    #[arg(long, env = "CLERK_EDIT_INTERVAL_MS", value_name = "MS")]
    pub edit_interval_ms: Option<u64>,
    /// Hours a staff console session lasts [default: 12]
    #[arg(long, env = "CLERK_SESSION_HOURS", value_name = "HOURS")]
    pub session_hours: Option<u64>,
    /// Conversations one client address may start in the web chat per hour [default: 20]
    #[arg(long, env = "CLERK_CHAT_CONVERSATIONS_PER_HOUR", value_name = "N")]
    pub chat_conversations_per_hour: Option<u32>,
    /// Messages one client address may send in the web chat per minute [default: 10]
    #[arg(long, env = "CLERK_CHAT_MESSAGES_PER_MINUTE", value_name = "N")]
    pub chat_messages_per_minute: Option<u32>,
    /// Web chat replies being made at once for one client address [default: 2]
    #[arg(long, env = "CLERK_CHAT_TURNS_PER_ADDRESS", value_name = "N")]
    pub chat_turns_per_address: Option<u32>,
    /// Web chat replies being made at once in all [default: 16]
    #[arg(long, env = "CLERK_CHAT_TURNS", value_name = "N")]
    pub chat_turns: Option<u32>,
    /// Days after which conversations nobody handles, and records of staff actions, are deleted;
    /// 0 keeps them [default: 365]
    #[arg(long, env = "CLERK_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<u64>,
    /// Minutes after which a conversation the bot owns and nobody wrote in is closed; 0 never
    /// closes [default: 60]
    #[arg(long, env = "CLERK_IDLE_CLOSE_MINUTES", value_name = "MINUTES")]
    pub idle_close_minutes: Option<u64>,
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
    /// scripts/fetch-charts [default: ~/.cache/clerk/charts]
    #[arg(long, env = "CLERK_CHART_SCRIPTS", value_name = "DIR")]
    pub chart_scripts: Option<PathBuf>,
    /// Verified shoppers and the embedded chat (the file's `[identity]` table).
    #[command(flatten)]
    #[serde(skip)]
    pub identity: IdentityArgs,
}

/// Verified shoppers and the chat embedded in a store's site: flags of `clerk serve`, and the
/// `[identity]` table of the configuration file under the same names. Each setting is declared
/// once, here; [`IdentityArgs::or`] puts the flags over the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// the verified ways) or `verified` (only a signed identity or a linked app chat) [default: email]
    #[arg(long, env = "CLERK_SHOPPER_AUTH", value_name = "MODE")]
    pub shopper_auth: Option<clerk_core::identity::ShopperAuth>,
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
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl IdentityArgs {
    /// These settings where given, `file`'s elsewhere.
    pub fn or(self, file: IdentityArgs) -> IdentityArgs {
        IdentityArgs {
            identity_secret: self.identity_secret.or(file.identity_secret),
            shopper_auth: self.shopper_auth.or(file.shopper_auth),
            smtp_url: self.smtp_url.or(file.smtp_url),
            smtp_from: self.smtp_from.or(file.smtp_from),
            allowed_origins: if self.allowed_origins.is_empty() {
                file.allowed_origins
            } else {
                self.allowed_origins
            },
        }
    }

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

/// The configuration file: the shared settings at the top, then the `[serve]` and `[identity]`
/// tables, each setting named as its flag.
#[derive(Debug, Clone, Default)]
struct FileConfig {
    global: GlobalArgs,
    serve: ServeArgs,
    identity: IdentityArgs,
}

impl GlobalArgs {
    /// These settings where given, `file`'s elsewhere.
    fn or(self, file: GlobalArgs) -> GlobalArgs {
        GlobalArgs {
            config: self.config,
            database: self.database.or(file.database),
            data_dir: self.data_dir.or(file.data_dir),
            index_dir: self.index_dir.or(file.index_dir),
            prompts_dir: self.prompts_dir.or(file.prompts_dir),
            log: self.log.or(file.log),
            model: self.model.or(file.model),
            model_timeout: self.model_timeout.or(file.model_timeout),
            risk_threshold: self.risk_threshold.or(file.risk_threshold),
            model_url: self.model_url.or(file.model_url),
            model_name: self.model_name.or(file.model_name),
            model_api_key: self.model_api_key.or(file.model_api_key),
            model_constrained: self.model_constrained || file.model_constrained,
            runtime: self.runtime.or(file.runtime),
            embedding_model: self.embedding_model.or(file.embedding_model),
            help_dir: self.help_dir.or(file.help_dir),
        }
    }
}

/// The flag's list when one was given, else the file's.
fn list_or<T>(flag: Vec<T>, file: Vec<T>) -> Vec<T> {
    if flag.is_empty() { file } else { flag }
}

impl ServeArgs {
    /// These settings where given, `file`'s elsewhere (`identity` is taken from the file's own
    /// table by [`IdentityArgs::or`]).
    fn or(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            listen: self.listen.or(file.listen),
            api_key: self.api_key.or(file.api_key),
            demo: self.demo || file.demo,
            telegram_token: self.telegram_token.or(file.telegram_token),
            telegram_api_url: self.telegram_api_url.or(file.telegram_api_url),
            telegram_webhook_url: self.telegram_webhook_url.or(file.telegram_webhook_url),
            telegram_webhook_secret: self
                .telegram_webhook_secret
                .or(file.telegram_webhook_secret),
            discord_token: self.discord_token.or(file.discord_token),
            discord_channels: list_or(self.discord_channels, file.discord_channels),
            discord_api_proxy: self.discord_api_proxy.or(file.discord_api_proxy),
            edit_interval_ms: self.edit_interval_ms.or(file.edit_interval_ms),
            session_hours: self.session_hours.or(file.session_hours),
            chat_conversations_per_hour: self
                .chat_conversations_per_hour
                .or(file.chat_conversations_per_hour),
            chat_messages_per_minute: self
                .chat_messages_per_minute
                .or(file.chat_messages_per_minute),
            chat_turns_per_address: self.chat_turns_per_address.or(file.chat_turns_per_address),
            chat_turns: self.chat_turns.or(file.chat_turns),
            retention_days: self.retention_days.or(file.retention_days),
            idle_close_minutes: self.idle_close_minutes.or(file.idle_close_minutes),
            trusted_proxies: list_or(self.trusted_proxies, file.trusted_proxies),
            secure_cookie: self.secure_cookie || file.secure_cookie,
            chart_scripts: self.chart_scripts.or(file.chart_scripts),
            identity: self.identity,
        }
    }
}

/// Every setting, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The store's database URL.
    pub database: String,
    /// clerk's own files.
    pub data_dir: PathBuf,
    /// The search index folder.
    pub index_dir: PathBuf,
    /// Folder overriding the built-in prompts, if any.
    pub prompts_dir: Option<PathBuf>,
    /// Log filter.
    pub log: String,
    /// The GGUF model file.
    pub model: PathBuf,
    /// How long one model step may take.
    pub model_timeout: std::time::Duration,
    /// The risk score at or above which a shopper's write goes to staff.
    pub risk_threshold: f64,
    /// A remote OpenAI-compatible model server to use instead of the GGUF file.
    pub model_url: Option<String>,
    /// The model to ask the remote server for.
    pub model_name: String,
    /// Bearer token for the remote server.
    pub model_api_key: Option<String>,
    /// Whether decoding is constrained to the step schema.
    pub model_constrained: bool,
    /// The in-process runtime.
    pub runtime: clerk_runtime::local::Runtime,
    /// The sentence-embedding model's folder.
    pub embedding_model: PathBuf,
    /// The help articles' folder, if any.
    pub help_dir: Option<PathBuf>,
    /// Address `serve` listens on.
    pub listen: SocketAddr,
    /// Key for the HTTP API, if any.
    pub api_key: Option<String>,
    /// Whether `serve` starts on the demo store.
    pub demo: bool,
    /// Telegram bot token, when Telegram is served.
    pub telegram_token: Option<String>,
    /// Telegram Bot API address, when not Telegram's own.
    pub telegram_api_url: Option<String>,
    /// Public address of the Telegram webhook (webhook mode).
    pub telegram_webhook_url: Option<String>,
    /// Secret of the Telegram webhook.
    pub telegram_webhook_secret: Option<String>,
    /// Discord bot token, when Discord is served.
    pub discord_token: Option<String>,
    /// Guild channels where mentions are answered.
    pub discord_channels: Vec<u64>,
    /// Another address for Discord's API.
    pub discord_api_proxy: Option<String>,
    /// Least time between two edits of a streamed reply.
    pub edit_interval: std::time::Duration,
    /// How long a console session lasts.
    pub session_lifetime: std::time::Duration,
    /// How long a conversation the bot owns may stay idle before it is closed; `None`: never.
    pub idle_close: Option<std::time::Duration>,
    /// The web chat's limits per client address and overall.
    pub chat_limits: crate::web::limits::ChatLimits,
    /// How long conversations nobody handles and records of staff actions are kept; `None`:
    /// for ever.
    pub retention: Option<std::time::Duration>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether the console's cookie is `Secure`.
    pub secure_cookie: bool,
    /// The console's chart scripts.
    pub chart_scripts: PathBuf,
    /// Verified shoppers and the embedded chat.
    pub identity: IdentityArgs,
}

impl Settings {
    /// Resolves the settings from flags and environment (`global`, `serve`) and the file.
    pub fn resolve(
        global: &GlobalArgs,
        serve: Option<&ServeArgs>,
    ) -> Result<Settings, ConfigError> {
        let file = match &global.config {
            Some(path) => read_file(path)?,
            None if Path::new("clerk.toml").exists() => read_file(Path::new("clerk.toml"))?,
            None => FileConfig::default(),
        };
        let global = global.clone().or(file.global);
        let serve_args = serve.cloned().unwrap_or_default().or(file.serve);
        if let Some(threshold) = global.risk_threshold
            && !(0.0..=1.0).contains(&threshold)
        {
            return Err(ConfigError::Invalid {
                name: "risk_threshold",
                message: format!("{threshold} is not a score from 0 to 1"),
            });
        }
        let data_dir = global.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let database = global
            .database
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("store.db").display()));
        let default_prompts = Path::new("prompts");
        let settings = Settings {
            database,
            index_dir: global.index_dir.unwrap_or_else(|| PathBuf::from("index")),
            prompts_dir: global
                .prompts_dir
                .or_else(|| default_prompts.is_dir().then(|| default_prompts.to_owned())),
            log: global.log.unwrap_or_else(|| "info".to_owned()),
            model: global
                .model
                .unwrap_or_else(clerk_core::cache::default_model_path),
            model_timeout: std::time::Duration::from_secs(global.model_timeout.unwrap_or(600)),
            risk_threshold: global
                .risk_threshold
                .unwrap_or(clerk_core::risk::DEFAULT_THRESHOLD),
            model_url: global.model_url.filter(|u| !u.is_empty()),
            model_name: global.model_name.unwrap_or_else(|| "default".to_owned()),
            model_api_key: global.model_api_key.filter(|k| !k.is_empty()),
            model_constrained: global.model_constrained,
            runtime: global.runtime.unwrap_or_default(),
            embedding_model: global
                .embedding_model
                .unwrap_or_else(clerk_core::embed::default_dir),
            help_dir: global
                .help_dir
                .or_else(|| Some(PathBuf::from("help")).filter(|dir| dir.is_dir())),
            listen: serve_args
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            api_key: serve_args.api_key.filter(|k| !k.is_empty()),
            demo: serve_args.demo,
            telegram_token: serve_args.telegram_token.filter(|t| !t.is_empty()),
            telegram_api_url: serve_args.telegram_api_url,
            telegram_webhook_url: serve_args.telegram_webhook_url,
            telegram_webhook_secret: serve_args.telegram_webhook_secret,
            discord_token: serve_args.discord_token.filter(|t| !t.is_empty()),
            discord_channels: serve_args.discord_channels,
            trusted_proxies: serve_args.trusted_proxies,
            discord_api_proxy: serve_args.discord_api_proxy,
            edit_interval: std::time::Duration::from_millis(
                serve_args.edit_interval_ms.unwrap_or(1000),
            ),
            session_lifetime: std::time::Duration::from_secs(
                3600 * serve_args.session_hours.unwrap_or(12).max(1),
            ),
            idle_close: Some(serve_args.idle_close_minutes.unwrap_or(60))
                .filter(|minutes| *minutes > 0)
                .map(|minutes| std::time::Duration::from_secs(60 * minutes)),
            retention: Some(serve_args.retention_days.unwrap_or(365))
                .filter(|days| *days > 0)
                .map(|days| std::time::Duration::from_secs(86_400 * days)),
            chat_limits: {
                let default = crate::web::limits::ChatLimits::default();
                crate::web::limits::ChatLimits {
                    conversations_per_hour: serve_args
                        .chat_conversations_per_hour
                        .unwrap_or(default.conversations_per_hour),
                    messages_per_minute: serve_args
                        .chat_messages_per_minute
                        .unwrap_or(default.messages_per_minute),
                    turns_per_address: serve_args
                        .chat_turns_per_address
                        .unwrap_or(default.turns_per_address),
                    turns: serve_args.chat_turns.unwrap_or(default.turns),
                }
            },
            secure_cookie: serve_args.secure_cookie,
            chart_scripts: serve_args
                .chart_scripts
                .unwrap_or_else(clerk_core::cache::default_chart_scripts),
            identity: serve_args.identity.or(file.identity),
            data_dir,
        };
        settings.identity.check()?;
        if settings.telegram_webhook_url.is_some()
            && settings
                .telegram_webhook_secret
                .as_deref()
                .is_none_or(str::is_empty)
        {
            // Without it anyone who reaches the server could post updates as any chat.
            return Err(ConfigError::Invalid {
                name: "telegram_webhook_secret",
                message:
                    "a Telegram webhook needs a secret (1 to 256 letters, digits, '_' or '-'), \
                          the same on every instance"
                        .to_owned(),
            });
        }
        if let Some(dir) = &settings.prompts_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::Invalid {
                name: "prompts_dir",
                message: format!("{} is not a folder", dir.display()),
            });
        }
        Ok(settings)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |e: toml::de::Error| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut top: toml::Table = toml::from_str(&text).map_err(invalid)?;
    // The tables first; what is left are the shared settings (an unknown key is an error in each).
    let mut table = |name: &str| -> Result<toml::Table, ConfigError> {
        match top.remove(name) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(table)) => Ok(table),
            Some(_) => Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!("`{name}` must be a table: [{name}]"),
            }),
        }
    };
    let serve = table("serve")?.try_into().map_err(invalid)?;
    let identity = table("identity")?.try_into().map_err(invalid)?;
    let global = top.try_into().map_err(invalid)?;
    Ok(FileConfig {
        global,
        serve,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clerk.toml");
        std::fs::write(
            &file,
            "database = \"sqlite:///from/file.db\"\nindex_dir = \"/idx\"\n[serve]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let global = GlobalArgs {
            config: Some(file.clone()),
            database: Some("postgres://flag@h/db".into()),
            ..GlobalArgs::default()
        };
        let settings = Settings::resolve(&global, None).unwrap();
        assert_eq!(settings.database, "postgres://flag@h/db");
        assert_eq!(settings.index_dir, PathBuf::from("/idx"));
        assert_eq!(settings.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("data"));

        let webhook = ServeArgs {
            telegram_webhook_url: Some("https://shop.example/telegram/webhook".into()),
            ..ServeArgs::default()
        };
        let error = Settings::resolve(&global, Some(&webhook)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a Telegram webhook needs a secret"),
            "{error}"
        );

        std::fs::write(
            &file,
            "[identity]\nshopper_auth = \"verified\"\nallowed_origins = [\"https://shop.example\"]\n",
        )
        .unwrap();
        let settings = Settings::resolve(&global, None).unwrap();
        assert_eq!(
            settings.identity.shopper_auth,
            Some(clerk_core::identity::ShopperAuth::Verified)
        );
        assert_eq!(settings.identity.allowed_origins, ["https://shop.example"]);
        let flags = ServeArgs {
            identity: IdentityArgs {
                allowed_origins: vec!["https://shop.example/page".into()],
                ..IdentityArgs::default()
            },
            ..ServeArgs::default()
        };
        let error = Settings::resolve(&global, Some(&flags)).unwrap_err();
        assert!(error.to_string().contains("is not an origin"), "{error}");
        let short = ServeArgs {
            identity: IdentityArgs {
                identity_secret: Some("secret".into()),
                ..IdentityArgs::default()
            },
            ..ServeArgs::default()
        };
        let error = Settings::resolve(&global, Some(&short)).unwrap_err();
        assert!(
            error.to_string().contains("at least 32 characters"),
            "{error}"
        );

        std::fs::write(&file, "databse = \"typo\"\n").unwrap();
        let error = Settings::resolve(&global, None).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `databse`"),
            "{error}"
        );
        std::fs::write(&file, "[serve]\nlisten_on = \"127.0.0.1:1\"\n").unwrap();
        let error = Settings::resolve(&global, None).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `listen_on`"),
            "{error}"
        );
        std::fs::write(&file, "serve = 1\n").unwrap();
        let error = Settings::resolve(&global, None).unwrap_err();
        assert!(error.to_string().contains("must be a table"), "{error}");
        // A flag beats the file's `[serve]` value, lists included.
        std::fs::write(
            &file,
            "[serve]\ndemo = true\ntrusted_proxies = [\"10.0.0.1\"]\nretention_days = 7\n",
        )
        .unwrap();
        let flags = ServeArgs {
            trusted_proxies: vec!["10.0.0.2".parse().unwrap()],
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(&global, Some(&flags)).unwrap();
        assert!(settings.demo);
        assert_eq!(
            settings.trusted_proxies,
            ["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            settings.retention,
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
    }
}
