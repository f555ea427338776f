//! The engine's side of a tool call, the model's or its own: the policy's verdict in the turn's
//! state, running it (stored as a call and its result, an authentication recorded), refusing it
//! with the reason the model is told, the risk gate's score of a confirmed write, and what a
//! write's ids are in words for its listing.

use super::turn::Turn;
use super::{ENGINE_CALL, Engine, EngineError, ToolResult, found, policy};
use clerk_core::llm::{Role, ToolCall};
use clerk_core::retail::RetailError;
use clerk_core::tool_name::ToolName;
use clerk_core::tools::{Access, ToolError, present};
use policy::Verdict;
use std::collections::HashMap;

impl Engine {
    /// The policy's verdict on a call in this turn's state.
    pub(super) async fn verdict(
        &self,
        turn: &Turn<'_>,
        call: &ToolCall,
    ) -> Result<Verdict, EngineError> {
        let Some(spec) = self.tools.spec(&call.name) else {
            return Ok(Verdict::Refuse(format!("there is no tool `{}`", call.name)));
        };
        let access = spec.access;
        if turn.merchant() {
            return Ok(policy::judge_for_merchant(access));
        }
        let owner = self.owner_of(call).await?;
        Ok(self.judge(access, turn, owner.as_deref()))
    }

    /// The policy's verdict on a shopper's call; where shoppers identify only by the store's
    /// site or a linked app, identifying in the chat is refused too.
    pub(super) fn judge(&self, access: Access, turn: &Turn<'_>, owner: Option<&str>) -> Verdict {
        if access == Access::Identify && !self.identity.identify_in_chat() {
            return Verdict::Refuse(self.replies.verified.state_unverified.clone());
        }
        policy::judge(access, turn.authenticated.as_deref(), owner)
    }

    /// Runs a write the shopper confirmed; returns what to tell them when it ran
    /// ([`policy::done`]), `None` when it failed (the model explains the store's answer).
    pub(super) async fn run_write(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
    ) -> Result<Option<String>, EngineError> {
        let output = self.run_tool_output(turn, call, false).await?;
        let methods = self.payment_words(turn.authenticated.as_deref()).await?;
        Ok(output.and_then(|output| policy::done(&self.replies.done, call, &output, &methods)))
    }

    /// Scores a write the shopper confirmed ([`clerk_core::risk`]) and stores the score with its
    /// reasons; returns it when it reaches the store's threshold (the write must not run).
    /// Merchants' writes and ungated tools are not scored.
    pub(super) async fn held_for_risk(
        &self,
        turn: &Turn<'_>,
        call: &ToolCall,
    ) -> Result<Option<clerk_core::store::RiskRecord>, EngineError> {
        let Some(tool) = clerk_core::risk::gated(&call.name).filter(|_| !turn.merchant()) else {
            return Ok(None);
        };
        let changed_earlier = self.changed_earlier(turn.conversation_id).await?;
        let Some(assessment) = clerk_core::risk::assess(
            &self.store,
            tool,
            &call.arguments,
            changed_earlier,
            self.config.risk_model.as_deref(),
        )
        .await?
        else {
            return Ok(None);
        };
        // A threshold of 1 turns the gate off, even for a model sure of fraud.
        let held =
            self.config.risk_threshold < 1.0 && assessment.score >= self.config.risk_threshold;
        let risk = self
            .store
            .record_risk(clerk_core::store::RiskRecord {
                assessment_id: String::new(),
                conversation_id: turn.conversation_id.to_owned(),
                user_id: assessment.user_id,
                order_id: assessment.order_id,
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
                score: assessment.score,
                reasons: assessment.reasons,
                signals: assessment.signals.values().to_vec(),
                held,
                label: None,
                created_at: 0,
            })
            .await?;
        if held {
            tracing::warn!(
                conversation = turn.conversation_id,
                tool = %call.name,
                score = risk.score,
                "a write held for staff by the risk gate"
            );
        }
        Ok(held.then_some(risk))
    }

    /// Runs a call, made by the engine itself (`by_engine`: recorded so, for staff and the
    /// eval) or by the model.
    pub(super) async fn run_tool_by(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<bool, EngineError> {
        Ok(self.run_tool_output(turn, call, by_engine).await?.is_some())
    }

    /// Runs a call as [`Engine::run_tool_by`] does; returns its output when it succeeded.
    pub(super) async fn run_tool_output(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<Option<String>, EngineError> {
        self.store_call(turn.conversation_id, call, by_engine)
            .await?;
        let result = self.tools.call(&call.name, call.arguments.clone()).await;
        let (ok, output) = match result {
            Ok(output) => (true, output),
            Err(error @ (ToolError::Store(_) | ToolError::Search(_) | ToolError::Prompt(_))) => {
                tracing::error!(%error, tool = %call.name, "tool failed");
                (
                    false,
                    "Error: the store is unavailable right now".to_owned(),
                )
            }
            Err(error) => (false, error.agent_text()),
        };
        self.store
            .append_message(turn.conversation_id, Role::Tool, &output, None)
            .await?;
        if ok {
            turn.outcome.tool_results.push(ToolResult {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                output: output.clone(),
            });
        }
        if ok && call.name == ToolName::SearchHelp {
            turn.help_article = serde_json::from_str::<serde_json::Value>(&output)
                .ok()
                .and_then(|v| v["passages"][0]["title"].as_str().map(str::to_owned));
        }
        let identifies = self
            .tools
            .spec(&call.name)
            .is_some_and(|s| s.access == Access::Identify);
        if ok && identifies && turn.authenticated.is_none() {
            let user = output.trim().to_owned();
            turn.authenticated = if self.authenticate(turn.conversation_id, &user).await? {
                Some(user)
            } else {
                // Authenticated meanwhile (an app chat linked during the turn): that stands.
                self.record(turn.conversation_id).await?.authenticated_user
            };
        }
        Ok(ok.then_some(output))
    }

    /// Stores a refused call and the reason the model is told.
    pub(super) async fn refuse(
        &self,
        turn: &mut Turn<'_>,
        call: &ToolCall,
        why: &str,
    ) -> Result<(), EngineError> {
        turn.outcome.refused_calls += 1;
        // The reason may name the customer: only at debug (logs at info carry no personal data).
        tracing::warn!(conversation = turn.conversation_id, tool = %call.name, "tool call refused by policy");
        tracing::debug!(
            conversation = turn.conversation_id,
            why,
            "why the call was refused"
        );
        self.store_call(turn.conversation_id, call, false).await?;
        self.store
            .append_message(
                turn.conversation_id,
                Role::Tool,
                &format!("Error: {why}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// Stores a call; one the engine made itself is marked `"by": "clerk"`.
    pub(super) async fn store_call(
        &self,
        conversation_id: &str,
        call: &ToolCall,
        by_engine: bool,
    ) -> Result<(), EngineError> {
        let mut value = serde_json::to_value(call).unwrap_or_default();
        if by_engine {
            value["by"] = serde_json::Value::from(ENGINE_CALL);
        }
        let json = value.to_string();
        self.store
            .append_message(conversation_id, Role::Assistant, "", Some(&json))
            .await?;
        Ok(())
    }

    /// What the ids of a write are, for its listing: the items of the order it changes and the
    /// new items it names (by product and options), the customer's payment methods (by kind).
    /// Read only from the order's own customer.
    pub(super) async fn known_ids(
        &self,
        call: &ToolCall,
    ) -> Result<HashMap<String, String>, EngineError> {
        let mut known = HashMap::new();
        let text = |key: &str| call.arguments.get(key).and_then(|v| v.as_str());
        let order = match text("order_id") {
            Some(id) => found(self.retail.order_details(id).await)?,
            None => None,
        };
        if let Some(order) = &order {
            for item in &order.items {
                known.insert(
                    item.item_id.clone(),
                    present::item_words(&item.name, &item.options),
                );
            }
            let new_ids: Vec<&str> = call
                .arguments
                .get("new_item_ids")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            let mut products: Vec<&str> =
                order.items.iter().map(|i| i.product_id.as_str()).collect();
            products.dedup();
            for product_id in products.into_iter().filter(|_| !new_ids.is_empty()) {
                let Some(product) = found(self.retail.product_details(product_id).await)? else {
                    continue;
                };
                for variant in product.variants.values() {
                    if new_ids.contains(&variant.item_id.as_str()) {
                        known.insert(
                            variant.item_id.clone(),
                            present::item_words(&product.name, &variant.options),
                        );
                    }
                }
            }
        }
        let user_id = order
            .as_ref()
            .map(|o| o.user_id.as_str())
            .or(text("user_id"));
        if let Some(user_id) = user_id
            && let Some(user) = found(self.retail.user_details(user_id).await)?
        {
            for method in user.payment_methods.values() {
                known.insert(method.id().to_owned(), present::method_words(method));
            }
        }
        Ok(known)
    }

    /// The customer a call's target belongs to: its `user_id`, or the owner of its `order_id`
    /// (none when no such order exists).
    pub(super) async fn owner_of(&self, call: &ToolCall) -> Result<Option<String>, EngineError> {
        if let Some(user_id) = call.arguments.get("user_id").and_then(|v| v.as_str()) {
            return Ok(Some(user_id.to_owned()));
        }
        let Some(order_id) = call.arguments.get("order_id").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        match self.retail.order_details(order_id).await {
            Ok(order) => Ok(Some(order.user_id)),
            Err(RetailError::Store(e)) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }
}
