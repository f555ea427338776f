//! `clerk bench llm`: the in-process model's speed through clerk, each runtime built in (candle;
//! mistral.rs with the `mistralrs` feature) beside llama.cpp's `llama-bench`, on the same GGUF
//! file, the same thread count and the same prompt lengths (500 and 2,000 tokens): prompt and
//! decode tokens per second; then, as a shopper meets it, the warm-up (the system message:
//! policy, protocol, every tool), a new conversation's first words after it, and its second
//! turn. `scripts/build-llama-bench` builds the peer. A step that runs past its limit or cannot
//! be read is measured all the same and ends its turn.

use crate::app::App;
use crate::config::Settings;
use clerk_core::llm::{ChatMessage, ModelRequest, ModelStep, Role, protocol};
use clerk_core::prompts::Prompts;
use clerk_core::store::Store;
use clerk_core::tools::ToolSpec;
use clerk_runtime::local::{LocalModel, LocalModelConfig, Runtime, StepUsage};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The prompt lengths measured, in tokens.
pub const PROMPT_LENGTHS: [usize; 2] = [500, 2000];
/// Tokens generated after each measured prompt.
const DECODE_TOKENS: usize = 64;
/// The most tokens a conversation's step may generate here (the engine's limit).
const STEP_TOKENS: usize = 384;

/// What `clerk bench llm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct LlmResults {
    /// The GGUF file.
    pub model: String,
    /// Threads every engine used (the machine's available parallelism).
    pub threads: usize,
    /// Tokens of the system message every conversation starts with.
    pub system_message_tokens: usize,
    /// Each runtime built into this clerk, in process.
    pub runtimes: Vec<RuntimeResults>,
    /// Runtimes not built in (mistral.rs needs the `mistralrs` feature).
    pub not_built: Vec<String>,
    /// llama.cpp on the same file and prompt lengths, when its `llama-bench` was given.
    pub llama_cpp: Option<LlamaCpp>,
    /// Ratios between the engines (above 1: the first named is faster).
    pub ratios: Vec<Ratio>,
}

/// One in-process runtime's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeResults {
    /// `candle` or `mistralrs`.
    pub runtime: String,
    /// Seconds to load the model.
    pub load_seconds: f64,
    /// A prompt of each length of [`PROMPT_LENGTHS`], nothing of it computed before, then
    /// [`DECODE_TOKENS`] generated.
    pub prompts: Vec<PromptRun>,
    /// Seconds to compute the system message (the warm-up at start).
    pub warm_up_seconds: f64,
    /// A new conversation's first step after the warm-up (the system message computed).
    pub new_conversation: StepUsage,
    /// That conversation's second turn (its first turn computed).
    pub second_turn: Option<StepUsage>,
    /// What the new conversation's steps were (a tool's name, `reply`, or why a step was
    /// unreadable), to tell a fast run from a run that did nothing.
    pub steps: Vec<String>,
    /// The process's peak resident memory after this runtime's runs, in MB (Linux's `VmHWM`):
    /// the model, its repacked weights and the computed sequences it keeps. A later runtime's
    /// figure includes the earlier ones' peak.
    pub peak_resident_mb: Option<f64>,
}

/// One measured prompt.
#[derive(Debug, Clone, Serialize)]
pub struct PromptRun {
    /// Its tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens computed per second.
    pub prompt_tokens_per_sec: f64,
    /// Tokens generated after it.
    pub decode_tokens: usize,
    /// Generated tokens per second.
    pub decode_tokens_per_sec: f64,
}

/// llama.cpp's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LlamaCpp {
    /// The `llama-bench` binary.
    pub binary: String,
    /// Each length of [`PROMPT_LENGTHS`]: prompt processing, then 64 tokens generated after a
    /// context of that many.
    pub prompts: Vec<PromptRun>,
}

/// A ratio of two engines' speeds at one prompt length.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared: `candle / llama.cpp`.
    pub engines: String,
    /// The prompt length.
    pub prompt_tokens: usize,
    /// Prompt tokens/s of the first over the second.
    pub prompt: f64,
    /// Decode tokens/s of the first over the second.
    pub decode: f64,
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
        .import(&clerk_core::demo::snapshot()?, true, &mut |_, _, _| {})
        .await?;
    let mut scratch_settings = settings.clone();
    scratch_settings.global.index_dir = scratch.join("index");
    let app = App::with_store(store, &scratch_settings)?;
    let prompts = Prompts::new(settings.prompts_dir.as_deref());
    let specs: Vec<_> = app.tools.specs().cloned().collect();
    let policy = prompts.policy()?;
    let system =
        protocol::system_message(&prompts.system()?, &policy, &prompts.protocol()?, &specs);

    let mut runtimes = Vec::new();
    let mut not_built = Vec::new();
    let mut system_message_tokens = 0;
    for runtime in [Runtime::Candle, Runtime::Mistralrs] {
        if runtime == Runtime::Mistralrs && !cfg!(feature = "mistralrs") {
            not_built.push(runtime.as_str().to_owned());
            continue;
        }
        let started = Instant::now();
        let model = LocalModel::load(&LocalModelConfig {
            path: settings.global.model.clone(),
            runtime,
            max_step_tokens: STEP_TOKENS,
            constrained: settings.global.model_constrained,
        })
        .await?;
        let load_seconds = started.elapsed().as_secs_f64();
        system_message_tokens = model.count_tokens(&system).await.unwrap_or(0);
        let mut measured = Vec::new();
        for (i, &length) in PROMPT_LENGTHS.iter().enumerate() {
            // Each prompt opens differently, so that nothing of it was computed before.
            let text = fit_to_tokens(&model, &format!("Text {i}.\n{policy}"), length).await;
            measured.push(measure_prompt(&model, text).await?);
        }
        let mut results = conversation(&model, &app, &system, &specs).await?;
        results.runtime = runtime.as_str().to_owned();
        results.load_seconds = load_seconds;
        results.prompts = measured;
        results.peak_resident_mb = peak_resident_mb();
        tracing::info!(?results, "bench runtime");
        runtimes.push(results);
    }

    let llama_cpp = match llama_bench {
        Some(binary) => Some(run_llama_bench(binary, &settings.global.model, threads)?),
        None => None,
    };
    let mut ratios = Vec::new();
    let mut peers: Vec<(String, &[PromptRun])> = runtimes
        .iter()
        .map(|r| (r.runtime.clone(), r.prompts.as_slice()))
        .collect();
    if let Some(llama) = &llama_cpp {
        peers.push(("llama.cpp".to_owned(), llama.prompts.as_slice()));
    }
    for (a, (first, first_runs)) in peers.iter().enumerate() {
        for (second, second_runs) in &peers[a + 1..] {
            for (x, y) in first_runs.iter().zip(second_runs.iter()) {
                ratios.push(Ratio {
                    engines: format!("{first} / {second}"),
                    prompt_tokens: x.prompt_tokens,
                    prompt: x.prompt_tokens_per_sec / y.prompt_tokens_per_sec,
                    decode: x.decode_tokens_per_sec / y.decode_tokens_per_sec,
                });
            }
        }
    }
    app.store.close().await;
    Ok(LlmResults {
        model: settings.global.model.display().to_string(),
        threads,
        system_message_tokens,
        runtimes,
        not_built,
        llama_cpp,
        ratios,
    })
}

/// The longest start of `source`, in whole words, of at most `tokens` tokens (repeated when
/// shorter).
async fn fit_to_tokens(model: &LocalModel, source: &str, tokens: usize) -> String {
    let words: Vec<&str> = source.split_whitespace().collect();
    if words.is_empty() {
        return String::new();
    }
    let text_of = |n: usize| {
        (0..n)
            .map(|i| words[i % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (mut low, mut high) = (0, tokens * 2);
    while low < high {
        let middle = (low + high).div_ceil(2);
        if model
            .count_tokens(&text_of(middle))
            .await
            .unwrap_or(usize::MAX)
            <= tokens
        {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    text_of(low)
}

/// A prompt of `text` computed from nothing, then [`DECODE_TOKENS`] generated.
async fn measure_prompt(model: &LocalModel, text: String) -> anyhow::Result<PromptRun> {
    let messages = [ChatMessage::text(
        Role::User,
        format!("{text}\nRepeat the text above word for word."),
    )];
    let request = ModelRequest {
        messages: &messages,
        tools: &[],
    };
    let (_, usage) = model.generate(request, DECODE_TOKENS, &mut |_| {}).await?;
    Ok(PromptRun {
        prompt_tokens: usage.prompt_tokens,
        prompt_tokens_per_sec: usage.prompt_tokens_per_sec,
        decode_tokens: usage.completion_tokens,
        decode_tokens_per_sec: usage.completion_tokens_per_sec,
    })
}

/// The warm-up, then a conversation as the engine would hold it: tools until a reply (three
/// steps at most), then a second turn.
async fn conversation(
    model: &LocalModel,
    app: &App,
    system: &str,
    specs: &[ToolSpec],
) -> anyhow::Result<RuntimeResults> {
    let step = |messages: Vec<ChatMessage>, max_tokens: usize| async move {
        let request = ModelRequest {
            messages: &messages,
            tools: specs,
        };
        let (text, usage) = model.generate(request, max_tokens, &mut |_| {}).await?;
        let step = if usage.cut && max_tokens > 1 {
            Err(format!("ran past {max_tokens} tokens"))
        } else {
            protocol::parse_step(&text).map_err(|e| e.to_string())
        };
        anyhow::Ok((step, usage))
    };
    let started = Instant::now();
    // A one-token step need not read as a step: what matters is what it computed.
    let _ = step(
        vec![
            ChatMessage::text(Role::System, system),
            ChatMessage::text(Role::User, "Hello"),
        ],
        1,
    )
    .await?;
    let warm_up_seconds = started.elapsed().as_secs_f64();

    let mut conversation = vec![
        ChatMessage::text(Role::System, system),
        ChatMessage::text(Role::User, "Hi! Do you sell wireless headphones?"),
    ];
    let mut steps = Vec::new();
    let (mut taken, new_conversation) = step(conversation.clone(), STEP_TOKENS).await?;
    for round in 0..3 {
        steps.push(match &taken {
            Ok(ModelStep::Call(call)) => call.name.clone(),
            Ok(ModelStep::Reply(_)) => "reply".to_owned(),
            Err(why) => format!("unreadable: {why}"),
        });
        let Ok(ModelStep::Call(call)) = &taken else {
            break;
        };
        if round == 2 {
            break;
        }
        let output = match app.tools.call(&call.name, call.arguments.clone()).await {
            Ok(output) => output,
            Err(error) => error.agent_text(),
        };
        conversation.push(ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_call: Some(call.clone()),
        });
        conversation.push(ChatMessage::text(Role::Tool, output));
        taken = step(conversation.clone(), STEP_TOKENS).await?.0;
    }
    let second_turn = match taken {
        Ok(ModelStep::Reply(reply)) => {
            conversation.push(ChatMessage::text(Role::Assistant, reply));
            conversation.push(ChatMessage::text(
                Role::User,
                "Thanks. Do you also have a mechanical keyboard?",
            ));
            Some(step(conversation, STEP_TOKENS).await?.1)
        }
        _ => None,
    };
    Ok(RuntimeResults {
        runtime: String::new(),
        load_seconds: 0.0,
        prompts: Vec::new(),
        warm_up_seconds,
        new_conversation,
        second_turn,
        steps,
        peak_resident_mb: None,
    })
}

/// The process's peak resident memory in MB, where Linux says (`/proc/self/status`).
fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `llama-bench` for each of [`PROMPT_LENGTHS`]: prompt processing, then 64 generated tokens
/// after a context of that many (clerk's decode runs after its prompt too).
fn run_llama_bench(binary: &Path, model: &Path, threads: usize) -> anyhow::Result<LlamaCpp> {
    let mut prompts = Vec::new();
    for length in PROMPT_LENGTHS {
        let length_arg = length.to_string();
        let decode_arg = DECODE_TOKENS.to_string();
        prompts.push(PromptRun {
            prompt_tokens: length,
            prompt_tokens_per_sec: llama_bench_rate(
                binary,
                model,
                threads,
                &["-p", &length_arg, "-n", "0"],
            )?,
            decode_tokens: DECODE_TOKENS,
            decode_tokens_per_sec: llama_bench_rate(
                binary,
                model,
                threads,
                &["-p", "0", "-n", &decode_arg, "-d", &length_arg],
            )?,
        });
    }
    Ok(LlamaCpp {
        binary: PathBuf::from(binary).display().to_string(),
        prompts,
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
