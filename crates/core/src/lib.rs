//! clerk-core: everything a turn calls, and no model runtime and no channel.
//!
//! Layered; each module imports only from the layers below it (`scripts/module-graph` draws them):
//!
//! - [`tools`] is the registry of operations an agent (or an operator) may call, each with a JSON
//!   schema and a description loaded from `prompts/`; [`llm`] is the one door to a model (its
//!   request, its step, the remote client: the in-process runtimes live in `clerk-runtime`).
//! - [`retail`] holds the store's order operations and their rules, as pure functions on records;
//!   [`risk`], [`pricing`], [`forecast`], [`recommend`], [`sentiment`] and [`analytics`] are the
//!   store's models and readings; [`search`] is the product index (tantivy) kept in step with the
//!   catalog; [`identity`] and [`accounts`] are who a shopper or a staff member is.
//! - [`store`] persists everything through sqlx, on SQLite or PostgreSQL; [`help`] and [`embed`]
//!   are the help articles and the sentence embeddings.
//! - [`money`], [`dates`], [`error`], [`slot`], [`secret`] and the others of layer 0 are shared
//!   by every layer.

pub mod accounts;
pub mod analytics;
pub mod boost;
pub mod cache;
pub mod dates;
pub mod demo;
pub mod embed;
pub mod error;
pub mod forecast;
pub mod help;
pub mod identity;
pub mod import;
pub mod llm;
pub mod money;
pub mod pricing;
pub mod prompts;
pub mod recommend;
pub mod retail;
pub mod risk;
pub mod saved;
pub mod search;
pub mod secret;
pub mod sentiment;
pub mod slot;
pub mod store;
pub mod tool_name;
pub mod tools;
