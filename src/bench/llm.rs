//! `clerk bench llm`: the in-process model's speed through clerk — prompt and decode tokens per
//! second, time to first token of a conversation's first turn, of its second turn (whose prefix
//! the cache holds) and of a new conversation (which shares only the system message) — beside
//! llama.cpp's `llama-bench` on the same GGUF file, the same prompt length and the same thread
//! count, run in the same command. `scripts/build-llama-bench` builds the peer.

use crate::app::App;
use crate::config::Settings;
use crate::llm::local::{LocalModel, LocalModelConfig, StepUsage};
use crate::llm::{ChatMessage, ModelRequest, ModelStep, Role, protocol};
use crate::prompts::Prompts;
use crate::store::Store;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `clerk bench llm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct LlmResults {
    /// The GGUF file.
    pub model: String,
    /// Threads both engines used (the machine's available parallelism).
    pub threads: usize,
    /// Seconds to load the model in process.
    pub load_seconds: f64,
    /// Tokens of the system message (policy, protocol, every tool), measured as the cold first
    /// turn's prompt less its shopper message.
    pub first_turn_prompt_tokens: usize,
    /// clerk, cold: the first turn of the first conversation (nothing cached).
    pub clerk_first_turn: StepUsage,
    /// clerk: the second turn of that conversation (its earlier messages cached).
    pub clerk_second_turn: StepUsage,
    /// clerk: the first turn of a new conversation (the system message cached).
    pub clerk_new_conversation: StepUsage,
    /// llama.cpp on the same file and prompt length, when its `llama-bench` was given.
    pub llama_cpp: Option<LlamaCpp>,
    /// The ratios asked about (below 1 for a speed: clerk is slower).
    pub ratios: Ratios,
}

/// llama.cpp's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LlamaCpp {
    /// The `llama-bench` binary.
    pub binary: String,
    /// Prompt tokens per second at the first turn's prompt length.
    pub prompt_tokens_per_sec: f64,
    /// Generated tokens per second (64 tokens, after a context as long as the prompt).
    pub decode_tokens_per_sec: f64,
    /// Its time to first token for the first turn's prompt: prompt time plus one decode step.
    pub first_turn_first_token_seconds: f64,
}

/// Ratios between the runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// clerk's prompt tokens/s over llama.cpp's.
    pub prompt_tps_clerk_over_llama_cpp: Option<f64>,
    /// clerk's decode tokens/s over llama.cpp's.
    pub decode_tps_clerk_over_llama_cpp: Option<f64>,
    /// clerk's cold time to first token over llama.cpp's (above 1: clerk is slower).
    pub first_turn_ttft_clerk_over_llama_cpp: Option<f64>,
    /// The second turn's time to first token over the first's (the prefix cache's gain).
    pub second_turn_ttft_over_first_turn: f64,
    /// A new conversation's time to first token over the first's.
    pub new_conversation_ttft_over_first_turn: f64,
}

/// Runs the benchmark with the model of `settings`, in `scratch` (a folder it may fill).
pub async fn run(
    settings: &Settings,
    scratch: &Path,
    llama_bench: Option<&Path>,
) -> anyhow::Result<LlmResults> {
    let threads = super::threads();
    let store = Store::connect(&format!("sqlite://{}", scratch.join("bench.db").display())).await?;
    store
        .import(&crate::cli::demo::snapshot()?, true, &mut |_, _, _| {})
        .await?;
    let mut scratch_settings = settings.clone();
    scratch_settings.index_dir = scratch.join("index");
    let app = App::with_store(store, &scratch_settings)?;
    let prompts = Prompts::new(settings.prompts_dir.as_deref());
    let specs: Vec<_> = app.tools.specs().cloned().collect();
    let system = protocol::system_message(
        &prompts.system()?,
        &prompts.policy()?,
        &prompts.protocol()?,
        &specs,
    );

    let started = Instant::now();
    let model = LocalModel::load(&LocalModelConfig {
        path: settings.model.clone(),
        chat_template: None,
        max_step_tokens: 128,
        constrained: settings.model_constrained,
    })
    .await?;
    let load_seconds = started.elapsed().as_secs_f64();

    let step = |messages: Vec<ChatMessage>| {
        let model = &model;
        let specs = &specs;
        async move {
            let request = ModelRequest {
                messages: &messages,
                tools: specs,
            };
            let (step, usage) = model.step_with_usage(request, &|_| {}).await?;
            tracing::info!(?step, ?usage, "bench step");
            anyhow::Ok((step, usage))
        }
    };

    let mut conversation = vec![
        ChatMessage::text(Role::System, system.clone()),
        ChatMessage::text(Role::User, "Hi! Do you sell wireless headphones?"),
    ];
    let (mut taken, first) = step(conversation.clone()).await?;
    // Finish the first turn as the engine would: tools until a reply (three steps at most).
    for _ in 0..3 {
        let ModelStep::Call(call) = taken else { break };
        let output = match app.tools.call(&call.name, call.arguments.clone()).await {
            Ok(output) => output,
            Err(error) => error.agent_text(),
        };
        conversation.push(ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_call: Some(call),
        });
        conversation.push(ChatMessage::text(Role::Tool, output));
        taken = step(conversation.clone()).await?.0;
    }
    if let ModelStep::Reply(reply) = taken {
        conversation.push(ChatMessage::text(Role::Assistant, reply));
    }
    conversation.push(ChatMessage::text(
        Role::User,
        "Thanks. Do you also have a mechanical keyboard?",
    ));
    let (_, second) = step(conversation).await?;
    let (_, fresh) = step(vec![
        ChatMessage::text(Role::System, system),
        ChatMessage::text(
            Role::User,
            "Hello, I would like to return something I bought.",
        ),
    ])
    .await?;

    let llama_cpp = match llama_bench {
        Some(binary) => Some(run_llama_bench(
            binary,
            &settings.model,
            first.prompt_tokens,
            threads,
        )?),
        None => None,
    };
    let ratios = Ratios {
        prompt_tps_clerk_over_llama_cpp: llama_cpp
            .as_ref()
            .map(|l| f64::from(first.prompt_tokens_per_sec) / l.prompt_tokens_per_sec),
        decode_tps_clerk_over_llama_cpp: llama_cpp
            .as_ref()
            .map(|l| f64::from(first.completion_tokens_per_sec) / l.decode_tokens_per_sec),
        first_turn_ttft_clerk_over_llama_cpp: llama_cpp
            .as_ref()
            .map(|l| first.first_token_seconds / l.first_turn_first_token_seconds),
        second_turn_ttft_over_first_turn: second.first_token_seconds / first.first_token_seconds,
        new_conversation_ttft_over_first_turn: fresh.first_token_seconds
            / first.first_token_seconds,
    };
    app.store.close().await;
    Ok(LlmResults {
        model: settings.model.display().to_string(),
        threads,
        load_seconds,
        first_turn_prompt_tokens: first.prompt_tokens,
        clerk_first_turn: first,
        clerk_second_turn: second,
        clerk_new_conversation: fresh,
        llama_cpp,
        ratios,
    })
}

/// Runs `llama-bench` twice: prompt processing of `prompt_tokens` tokens, then 64 generated
/// tokens after a context of that many (clerk's decode runs after its prompt too).
fn run_llama_bench(
    binary: &Path,
    model: &Path,
    prompt_tokens: usize,
    threads: usize,
) -> anyhow::Result<LlamaCpp> {
    let prompt = prompt_tokens.to_string();
    let prompt_tps = llama_bench_rate(binary, model, threads, &["-p", &prompt, "-n", "0"])?;
    let decode_tps = llama_bench_rate(
        binary,
        model,
        threads,
        &["-p", "0", "-n", "64", "-d", &prompt],
    )?;
    Ok(LlamaCpp {
        binary: PathBuf::from(binary).display().to_string(),
        prompt_tokens_per_sec: prompt_tps,
        decode_tokens_per_sec: decode_tps,
        first_turn_first_token_seconds: prompt_tokens as f64 / prompt_tps + 1.0 / decode_tps,
    })
}

/// The tokens per second of the one test `args` describe.
fn llama_bench_rate(
    binary: &Path,
    model: &Path,
    threads: usize,
    args: &[&str],
) -> anyhow::Result<f64> {
    use anyhow::Context;
    let output = std::process::Command::new(binary)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string(), "-r", "1", "-o", "json"])
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let runs: Vec<Value> = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{} printed no JSON", binary.display()))?;
    runs.first()
        .and_then(|run| run["avg_ts"].as_f64())
        .context("llama-bench's JSON has no result")
}
