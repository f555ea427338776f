//! clerk-engine: the conversation engine. A turn reads the shopper's message once, runs the
//! stages that can answer it without a model, then the model's loop (model → gated tool call →
//! model), with the store's policy enforced in code. It knows a model only through
//! [`clerk_core::llm::ChatModel`]: no model runtime and no channel is linked here.

pub mod conversation;
