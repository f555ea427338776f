//! clerk-runtime: the in-process model, a quantized GGUF file run in this process ([`local`]) on
//! candle 0.11's quantized Qwen2 ([`candle`]) or, with the `mistralrs` feature, on mistral.rs
//! ([`mistralrs`]). The only crate that links a model runtime: the engine's, channels' and
//! store's tests link none.

pub mod candle;
pub mod local;
#[cfg(feature = "mistralrs")]
pub mod mistralrs;
pub mod spec;
