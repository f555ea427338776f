//! Loads the bundled model in process and takes one conversation step, streaming the reply as it
//! is generated, then prints the step and its throughput.
//!
//! Run with: `cargo run -p clerk-runtime --example model_step [-- path/to/model.gguf [candle|mistralrs]]`
//! (`clerk bench llm` measures the real prompts, beside llama.cpp.)

use clerk_core::llm::{ChatMessage, ModelRequest, Role};
use clerk_runtime::local::{LocalModel, LocalModelConfig, Runtime};
use std::io::Write;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(clerk_core::cache::default_model_path);
    let runtime = match std::env::args().nth(2).as_deref() {
        Some("mistralrs") => Runtime::Mistralrs,
        _ => Runtime::Candle,
    };
    let model = LocalModel::load(&LocalModelConfig {
        path,
        runtime,
        max_step_tokens: 128,
        constrained: false,
    })
    .await?;
    let messages = [
        ChatMessage::text(
            Role::System,
            "You are a shop assistant. Answer with one JSON object: {\"reply\": \"...\"}.",
        ),
        ChatMessage::text(Role::User, "Hello! Do you sell headphones?"),
    ];
    let request = ModelRequest {
        messages: &messages,
        tools: &[],
    };
    let print = |piece: &str| {
        print!("{piece}");
        let _ = std::io::stdout().flush();
    };
    let (step, usage) = model.step_with_usage(request, &print).await?;
    println!("\n{step:?}\n{usage:?}");
    Ok(())
}
