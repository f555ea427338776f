//! The commands and their own arguments (everything but the settings, which are in [`super`]).

use super::ServeArgs;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

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
