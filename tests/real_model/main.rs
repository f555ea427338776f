//! The real bundled model (`scripts/fetch-model`) run in process on the CPU: the candle runtime's
//! own checks and the web chat end to end. A binary of their own: each step uses every core, so
//! its tests also take turns ([`one_at_a_time`]).

#[path = "../common/mod.rs"]
mod common;

mod llm_candle;
mod web_chat_real_model;

/// Held by each test while it runs the model: two at once only slow each other down (both
/// steps want every core), so the tests take turns.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
