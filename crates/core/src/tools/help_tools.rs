//! `search_help`: the passages of the store's help articles that answer a shopper's question
//! ([`crate::help`]), each with its article's title and file, for the agent to answer from and
//! name.

use super::{Access, Tool, ToolFuture, parse_args};
use crate::help::HelpArticles;
use crate::tool_name::ToolName;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `search_help`.
pub(super) struct SearchHelp {
    pub(super) help: Arc<HelpArticles>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    query: String,
}

impl Tool for SearchHelp {
    fn name(&self) -> ToolName {
        ToolName::SearchHelp
    }

    fn access(&self) -> Access {
        Access::Public
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let args: Args = parse_args(self.name(), args)?;
            let help = self.help.clone();
            let passages = tokio::task::spawn_blocking(move || help.search(&args.query))
                .await
                .expect("searching the articles does not panic")?;
            Ok(if passages.is_empty() {
                json!({"passages": [], "note": "no help article answers this"})
            } else {
                json!({ "passages": passages })
            }
            .to_string())
        })
    }
}
