//! Tools for the store's merchant, never offered to shoppers ([`super::Access::Merchant`]): the
//! engine runs them only in a merchant's conversation, which only a signed-in merchant account
//! can open (the staff console). Analytics will join them here.

use super::{Access, Tool, ToolError, ToolFuture};
use crate::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

/// The merchant's tools over `store`.
pub(super) fn all(store: Store) -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(StoreOverview { store })]
}

/// `store_overview`: how big the store is now, and how many shoppers wait for staff.
struct StoreOverview {
    store: Store,
}

impl Tool for StoreOverview {
    fn name(&self) -> &'static str {
        "store_overview"
    }

    fn access(&self) -> Access {
        Access::Merchant
    }

    fn call(&self, _args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let overview = self.store.overview().await.map_err(ToolError::Store)?;
            Ok(json!(overview).to_string())
        })
    }
}
