//! How fast candle's runtime reads a prompt and writes after it, without the rest of clerk: the
//! model's forward pass over a prompt of N tokens, then 32 tokens one at a time (and, with STEP
//! set, a STEP-token message after the prompt).
//!
//! Run with: `cargo run --release -p clerk-runtime --example qwen2_speed [-- path/to/model.gguf [N]]`
//! (`clerk bench llm` measures the same through clerk, beside mistral.rs and llama.cpp.)

use candle_core::Device;
use candle_core::quantized::gguf_file;
use clerk_runtime::candle::qwen2::{KvCache, Qwen2};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(clerk_core::cache::default_model_path);
    let length: usize = std::env::args()
        .nth(2)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(512);
    let mut file = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut file)?;
    if std::env::var_os("REFERENCE").is_some() {
        let mut model = candle_transformers::models::quantized_qwen2::ModelWeights::from_gguf(
            content,
            &mut file,
            &Device::Cpu,
        )?;
        let prompt: Vec<u32> = (0..length as u32).map(|i| 1000 + i % 5000).collect();
        let ids = candle_core::Tensor::new(&prompt[..16], &Device::Cpu)?.unsqueeze(0)?;
        model.forward(&ids, 0)?;
        let started = Instant::now();
        let mut pos = 0;
        for chunk in prompt.chunks(512) {
            let ids = candle_core::Tensor::new(chunk, &Device::Cpu)?.unsqueeze(0)?;
            model.forward(&ids, pos)?;
            pos += chunk.len();
        }
        println!(
            "reference prompt: {:.1} tokens/s",
            length as f64 / started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let model = Qwen2::from_gguf(&content, &mut file, &Device::Cpu)?;
    let prompt: Vec<u32> = (0..length as u32).map(|i| 1000 + i % 5000).collect();
    // The weights are repacked for the int8 kernels on first use: not counted.
    model.forward(&prompt[..16], &mut KvCache::default())?;
    let mut cache = KvCache::default();
    let chunk: usize = std::env::var("CHUNK")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(512);
    let started = Instant::now();
    for chunk in prompt.chunks(chunk) {
        model.forward(chunk, &mut cache)?;
    }
    let prompt_seconds = started.elapsed().as_secs_f64();
    // A shopper's message after the prompt: STEP tokens in one pass, the first time and then
    // the mean of ten more (each from the prompt's cache).
    if let Some(step) = std::env::var("STEP")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        let tokens: Vec<u32> = (0..step).map(|i| 2000 + i).collect();
        let mut seconds = Vec::new();
        for _ in 0..11 {
            let started = Instant::now();
            model.forward(&tokens, &mut cache.clone())?;
            seconds.push(started.elapsed().as_secs_f64());
        }
        println!(
            "a {step}-token step after the prompt: {:.3} s the first time, {:.3} s after",
            seconds[0],
            seconds[1..].iter().sum::<f64>() / 10.0
        );
    }
    let started = Instant::now();
    for i in 0..32 {
        model.forward(&[1000 + i], &mut cache)?;
    }
    let decode_seconds = started.elapsed().as_secs_f64();
    println!(
        "prompt: {length} tokens in {prompt_seconds:.2} s ({:.1} tokens/s); decode: {:.1} tokens/s",
        length as f64 / prompt_seconds,
        32.0 / decode_seconds
    );
    Ok(())
}
