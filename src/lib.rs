//! clerk: a customer-service agent server for online stores.
//!
//! This crate is the top of the layers (see `ARCHITECTURE.md`): the edges a shopper, a member of
//! staff or an operator reaches, over the crates below.
//!
//! - [`cli`] is the binary's commands, with [`config`] (flags, environment, `clerk.toml`),
//!   [`bench`] and [`eval`]; [`app`] assembles one store, its tools and the engine.
//! - [`router`] is the HTTP surface: [`api`] (the tool API), [`web`] (the shopper's web chat),
//!   [`staff`] (the console), over [`http`].
//! - [`channel`] is the messaging apps (Telegram, Discord).
//!
//! Below it: [`conversation`] (the crate clerk-engine), the in-process model (clerk-runtime),
//! and the store, tools, search and models (clerk-core: [`store`], [`tools`], [`retail`],
//! [`search`], [`llm`], …), re-exported here so that `clerk::store` and the others name them as
//! one library.

pub mod api;
pub mod app;
pub mod bench;
pub mod channel;
pub mod cli;
pub mod config;
pub mod eval;
pub mod http;
pub mod router;
pub mod staff;
pub mod web;

pub use clerk_core::{
    accounts, analytics, boost, cache, dates, demo, embed, error, forecast, help, identity, import,
    llm, money, pricing, prompts, recommend, retail, risk, saved, search, secret, sentiment, slot,
    store, tools,
};
pub use clerk_engine::conversation;
