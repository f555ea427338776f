//! clerk: a customer-service agent server for online stores.
//!
//! The crate is layered; a call crosses each layer once, downward (see `ARCHITECTURE.md`):
//!
//! - [`cli`] and [`api`] are the edges: the command line and the HTTP server.
//! - [`conversation`] is the engine: a turn of model → gated tool call → model, with the store's
//!   policy enforced in code; [`llm`] is the one door to a model.
//! - [`tools`] is the registry of operations an agent (or an operator) may call, each with a JSON
//!   schema and a description loaded from `prompts/`.
//! - [`retail`] holds the store's order operations and their rules, as pure functions on records.
//! - [`search`] is the product index (tantivy) kept in step with the catalog.
//! - [`store`] persists everything through sqlx, on SQLite or PostgreSQL.
//! - [`money`], [`dates`], [`error`] and [`config`] are shared by every layer.

pub mod accounts;
pub mod analytics;
pub mod api;
pub mod app;
pub mod bench;
pub mod boost;
pub mod cache;
pub mod channel;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod dates;
pub mod demo;
pub mod embed;
pub mod error;
pub mod eval;
pub mod forecast;
pub mod help;
pub mod http;
pub mod identity;
pub mod import;
pub mod llm;
pub mod money;
pub mod pricing;
pub mod prompts;
pub mod recommend;
pub mod retail;
pub mod risk;
pub mod router;
pub mod saved;
pub mod search;
pub mod secret;
pub mod sentiment;
pub mod slot;
pub mod staff;
pub mod store;
pub mod tools;
pub mod web;
