//! What clerk's route sets share over HTTP (axum): the server and its connections ([`server`]),
//! the one error type every route answers with ([`HttpError`]: `{"message", "code", "type"}` and
//! the status from [`clerk_core::error`]), the pages' security headers ([`page`]) and the largest body
//! read. The route sets — the tool API ([`crate::api`]), the shoppers' web chat ([`crate::web`]),
//! the staff console ([`crate::staff`]) — use this module and none of the others; the router
//! that puts them together is above them all ([`crate::router`]).

mod error;
pub mod page;
pub mod server;

pub use error::HttpError;

/// The largest request body clerk reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
