//! `clerk bench`: measurements written as JSON files, each set beside a peer run side by side in
//! the same run, so that the figures mean the same on any machine. [`search`] times the store and
//! product search against an in-memory scan; [`llm`] times the in-process model against
//! llama.cpp on the same GGUF file (the messaging path's own cost, which needs the test doubles,
//! is `cargo bench --bench channels`, `benches/channels.rs`); [`recommend`] scores the recommender on the Ta-Feng history beside popularity and "own
//! most-bought, then popular" on the same split; [`sentiment`] scores the sentiment model on the
//! clothing reviews and on chat messages beside the VADER lexicon and TF-IDF + logistic
//! regression; [`demand`] forecasts Dominick's orange juice beside the naive last week, the 4-week
//! mean and a linear model; [`pricing`] estimates its price elasticities and predicts the units
//! after price moves beside no elasticity and one pooled elasticity; [`fraud`] ranks the ULB card frauds beside logistic regression, and
//! [`risk_gate`] counts the tau2 reference writes each risk threshold would hold; [`analytics`]
//! times the merchant's analytics tools on the Ta-Feng history beside their SQL run directly,
//! on SQLite and PostgreSQL.

pub mod analytics;
pub mod demand;
pub mod fraud;
pub mod llm;
pub mod pricing;
pub mod recommend;
pub mod risk_gate;
pub mod search;
pub mod search_scale;
pub mod sentiment;

/// The build profile the figures were measured in: `debug` or `release`.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The machine's available parallelism.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes `results` as pretty JSON to `output` (creating its folder) and to standard output.
pub fn write_results(
    output: &std::path::Path,
    results: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(results)?;
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, format!("{text}\n"))?;
    println!("{text}");
    eprintln!("results written to {}", output.display());
    Ok(())
}
