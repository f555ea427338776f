//! `cargo bench --bench channels`: messages per second through the Telegram channel (a scripted
//! model, a Bot API stand-in on 127.0.0.1) beside the engine directly, and the handoff's latency
//! to the staff console ([`measure`]); writes `bench-results/channels.json`. A bench target
//! rather than a `clerk bench` command: it needs the test doubles, which the product never links.

mod measure;

use clap::Parser;
use std::path::PathBuf;

/// The benchmark's flags.
#[derive(Debug, Clone, Parser)]
struct Args {
    /// Where to write the results.
    #[arg(long, default_value = "bench-results/channels.json")]
    output: PathBuf,
    /// How much to measure.
    #[command(flatten)]
    options: measure::ChannelBench,
    /// What `cargo bench` passes to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Runs the benchmark in a scratch folder and writes the results file.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = std::env::temp_dir().join(format!("clerk-bench-channels-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let results = measure::run(&scratch, &args.options).await;
    let _ = std::fs::remove_dir_all(&scratch);
    clerk::bench::write_results(&args.output, &results?)
}
