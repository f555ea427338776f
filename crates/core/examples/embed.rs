//! Embeds each line of standard input with the sentence-embedding model (all-MiniLM-L6-v2, in
//! process) and prints one JSON array of 384 numbers per line; with `--similar`, prints instead
//! each line's cosine similarity to the first.
//!
//! Run with: `scripts/fetch-model embeddings` once, then
//! `printf 'a thermos\nkeep my coffee hot\na yoga mat\n' | cargo run --release -p clerk-core --example embed -- --similar`

use clerk_core::embed::{Embedder, default_dir, dot};
use std::io::{BufRead, Write};

fn main() -> anyhow::Result<()> {
    let similar = std::env::args().any(|a| a == "--similar");
    let embedder = Embedder::load(&default_dir())?;
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let first = match lines.first() {
        Some(line) if similar => embedder.embed_one(line)?,
        _ => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    for chunk in lines.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (text, vector) in texts.iter().zip(embedder.embed(&texts)?) {
            if similar {
                writeln!(out, "{:.3}\t{text}", dot(&first, &vector))?;
            } else {
                writeln!(out, "{}", serde_json::to_string(&vector)?)?;
            }
        }
    }
    Ok(())
}
