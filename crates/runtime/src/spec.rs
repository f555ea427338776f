//! What the runtimes share: which one runs the GGUF file ([`Runtime`]), how to load it
//! ([`LocalModelConfig`]), and what one step computed ([`StepCounts`]). [`crate::local`] chooses
//! the runtime; [`crate::candle`] and the mistral.rs runtime report their steps here.

use std::path::PathBuf;

/// Which runtime runs the GGUF file in process.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// candle 0.11's quantized Qwen2 (Qwen2 and Qwen2.5 GGUF files): on the CPU, prompts read
    /// several times faster than mistral.rs 0.8.1 (`clerk bench llm`).
    Candle,
    /// mistral.rs 0.8.1 (any GGUF architecture it knows), built in with the `mistralrs` feature;
    /// the runtime for an NVIDIA GPU (`cuda`).
    Mistralrs,
}

impl Default for Runtime {
    /// mistral.rs on a GPU build, candle otherwise.
    fn default() -> Runtime {
        if cfg!(feature = "cuda") {
            Runtime::Mistralrs
        } else {
            Runtime::Candle
        }
    }
}

impl Runtime {
    /// Its name, as `--runtime` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Candle => "candle",
            Runtime::Mistralrs => "mistralrs",
        }
    }
}

/// How to load the in-process model.
#[derive(Debug, Clone)]
pub struct LocalModelConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// The runtime that runs it.
    pub runtime: Runtime,
    /// The most tokens one step may generate.
    pub max_step_tokens: usize,
    /// Constrain decoding to the step schema (mistral.rs only). Measured unusable on a 2-core
    /// CPU (no step of the bundled model finished in ten minutes, against seconds without), so
    /// off by default; worth it on a GPU, where a small model then never makes a malformed step.
    pub constrained: bool,
}

/// What a runtime computed for one step.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepCounts {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Of those, the tokens found already computed (the system message, the conversation's
    /// earlier steps), where the runtime says.
    pub cached_tokens: Option<usize>,
    /// Seconds computing the prompt.
    pub prompt_seconds: f64,
    /// Prompt tokens computed per second (the cached ones not counted).
    pub prompt_tokens_per_sec: f64,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Seconds generating them.
    pub completion_seconds: f64,
    /// Whether generation stopped at the step's limit rather than at its end.
    pub cut: bool,
}
