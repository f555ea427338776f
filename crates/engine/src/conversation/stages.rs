//! The stages of a turn before the model's loop ([`super::turn::Stage`]), but the engine's own
//! lookups ([`super::lookups`]): each reads the turn's [`super::reading::Reading`] and either
//! ends the turn or passes it on.

use super::turn::{Flow, Turn};
use super::{Engine, EngineError, ReplySink, policy};
use clerk_core::llm::ToolCall;
use clerk_core::tool_name::ToolName;
use policy::Verdict;

impl Engine {
    /// A write the bot listed runs now, exactly as listed, if and only if this message is the
    /// shopper's very next after that listing and a plain yes; any other message drops it. Only
    /// the turn that takes it from the store runs it, so that two "yes" at once (or two clerk
    /// instances) never run it twice.
    pub(super) async fn confirmed_write<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let record = turn.record;
        let Some(stored) = record.pending_action.as_deref() else {
            return Ok(Flow::Next(turn));
        };
        let taken = self
            .store
            .take_pending_action(turn.conversation_id, stored)
            .await?;
        if taken
            && turn.reading.yes
            && self
                .answers_listing(turn.conversation_id, record.pending_listed_at)
                .await?
            && let Some(pending) = ToolCall::from_stored(stored)
        {
            return self.run_confirmed(turn, &pending, on_reply).await;
        }
        Ok(Flow::Next(turn))
    }

    /// A yes to the bot's own listing of a write (no write of the engine's pending) is kept for
    /// the model's call of it. A yes that confirmed the engine's listing confirms nothing else.
    pub(super) async fn listing_answered<'a>(
        &self,
        mut turn: Turn<'a>,
    ) -> Result<Flow<'a>, EngineError> {
        if turn.record.pending_action.is_none() && turn.reading.yes {
            turn.yes_to = self.reply_before_shopper(turn.conversation_id).await?;
        }
        Ok(Flow::Next(turn))
    }

    /// A shopper not yet identified who asks about their own orders or account is first asked
    /// who they are, without a model step (the policy's first step): for their email, or name
    /// and zip, unless the message gives one (the lookups take it) or asks for a person; where
    /// shoppers identify only by the store's site or a linked app, told how.
    pub(super) async fn identify_first<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let reading = turn.reading;
        if turn.authenticated.is_some() || !reading.needs_account {
            return Ok(Flow::Next(turn));
        }
        let words = if self.identity.identify_in_chat() {
            let gives = !reading.emails.is_empty() || !reading.names_with_zip.is_empty();
            // Their own orders or account, not how the store works ("do you take gift cards?").
            let own = !reading.order_ids.is_empty()
                || (!reading.asks_how_the_store_works
                    && [
                        "my ",
                        "i want",
                        "i'd like",
                        "i need",
                        "i would like",
                        "do i ",
                        "i have",
                        "i ordered",
                        "i bought",
                    ]
                    .iter()
                    .any(|words| reading.lower.contains(words)));
            if gives || reading.asks_for_person || !own {
                return Ok(Flow::Next(turn));
            }
            self.replies.identify_first.clone()
        } else if clerk_core::store::PUSH_CHANNELS.contains(&turn.record.channel.as_str()) {
            self.replies.verified.sign_in_app.clone()
        } else {
            self.replies.verified.sign_in_web.clone()
        };
        Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?))
    }

    /// What came of an identification the message tried is said by clerk itself, from the
    /// lookup's result: an email, or a name and zip, that is no customer's is asked about again
    /// (unless the lookups found something else the model is to answer); a shopper found who
    /// has asked nothing yet is greeted by name.
    pub(super) async fn identified<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let reading = turn.reading;
        let tried = !reading.emails.is_empty() || !reading.names_with_zip.is_empty();
        if !tried || turn.record.authenticated_user.is_some() || !self.identity.identify_in_chat() {
            return Ok(Flow::Next(turn));
        }
        let words = match &turn.authenticated {
            None if turn.outcome.tool_results.is_empty() => match reading.emails.first() {
                Some(email) => self.replies.not_found_email.replace("{email}", email),
                None => {
                    let (first, last, zip) = &reading.names_with_zip[0];
                    self.replies
                        .not_found_name
                        .replace("{name}", &format!("{first} {last}"))
                        .replace("{zip}", zip)
                }
            },
            Some(user) if reading.only_identifies && self.nothing_asked(&turn).await? => {
                match self.store.user(user).await? {
                    Some(found) => self
                        .replies
                        .found
                        .replace("{first_name}", &found.name.first_name),
                    None => return Ok(Flow::Next(turn)),
                }
            }
            _ => return Ok(Flow::Next(turn)),
        };
        Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?))
    }

    /// Whether the shopper has written nothing in the conversation but who they are (this
    /// message included): a question asked earlier is the model's to answer once they are found.
    async fn nothing_asked(&self, turn: &Turn<'_>) -> Result<bool, EngineError> {
        let messages = self.store.messages(turn.conversation_id).await?;
        Ok(messages
            .iter()
            .filter(|m| m.role == clerk_core::llm::Role::User)
            .all(|m| super::reading::Reading::of(&m.content).only_identifies))
    }

    /// The cheapest (or dearest) of one product in stock, asked for by name, is found by the
    /// search listed by price and said by clerk itself, with its options and price; with
    /// nothing in stock the turn passes on to the model, the search's result before it.
    pub(super) async fn superlative<'a>(
        &self,
        mut turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let reading = turn.reading;
        let Some(sort) = reading.superlative else {
            return Ok(Flow::Next(turn));
        };
        let types = self.catalog_products().await?;
        let Some(product) = super::assist::one_product(&reading.text, &types)
            .and_then(|id| types.into_iter().find(|(_, of)| *of == id))
            .map(|(name, _)| name)
        else {
            return Ok(Flow::Next(turn));
        };
        let arguments = serde_json::json!({
            "query": "",
            "filters": {"product": product, "available": true},
            "sort": sort,
            "limit": 1,
        });
        let call = super::tool_call(ToolName::SearchProducts, arguments);
        let Some(output) = self.run_tool_output(&mut turn, &call, true).await? else {
            return Ok(Flow::Next(turn));
        };
        let found: serde_json::Value = serde_json::from_str(&output).unwrap_or_default();
        let item = &found["products"][0]["items"][0];
        let Some(price) = item["price"].as_f64() else {
            return Ok(Flow::Next(turn));
        };
        let options: Vec<String> = item["options"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| format!("{name} {}", value.as_str().unwrap_or_default()))
            .collect();
        let template = match sort {
            clerk_core::search::Sort::PriceAsc => &self.replies.cheapest,
            clerk_core::search::Sort::PriceDesc => &self.replies.dearest,
        };
        let words = template
            .replace("{product}", &product.to_lowercase())
            .replace("{options}", &options.join(", "))
            .replace("{price}", &format!("${price:.2}"))
            .replace("{item_id}", item["item_id"].as_str().unwrap_or_default());
        Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?))
    }

    /// The policy transfers a shopper who asks for a person; no model step is needed.
    pub(super) async fn person_asked<'a>(
        &self,
        turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if !turn.reading.asks_for_person {
            return Ok(Flow::Next(turn));
        }
        let summary = format!("the customer asked for a person: {}", turn.reading.text);
        let call = super::tool_call(
            ToolName::TransferToHumanAgents,
            serde_json::json!({"summary": summary.chars().take(1000).collect::<String>()}),
        );
        Ok(Flow::Done(
            self.transfer(turn, &call, true, on_reply).await?,
        ))
    }

    /// A write the message fixes whole (a cancellation with its reason) is listed by the engine
    /// itself, if the store would take it: the shopper's yes then runs it.
    pub(super) async fn whole_write<'a>(
        &self,
        mut turn: Turn<'a>,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        let Some(call) = turn.proposal.take() else {
            return Ok(Flow::Next(turn));
        };
        if self.verdict(&turn, &call).await? == Verdict::Confirm
            && self
                .rehearsal
                .call(&call.name, call.arguments.clone())
                .await
                .is_ok()
        {
            return Ok(Flow::Done(self.list(turn, &call, on_reply).await?));
        }
        Ok(Flow::Next(turn))
    }

    /// Runs a write the shopper confirmed, unless the risk gate holds it for staff; ends the turn
    /// with what was done, or passes it on when the write failed (the model explains the store's
    /// answer).
    pub(super) async fn run_confirmed<'a>(
        &self,
        mut turn: Turn<'a>,
        call: &ToolCall,
        on_reply: ReplySink<'_>,
    ) -> Result<Flow<'a>, EngineError> {
        if let Some(risk) = self.held_for_risk(&turn, call).await? {
            return Ok(Flow::Done(
                self.hold_for_staff(turn, call, &risk, on_reply).await?,
            ));
        }
        if let Some(words) = self.run_write(&mut turn, call).await? {
            return Ok(Flow::Done(self.reply(turn, &words, "", on_reply).await?));
        }
        Ok(Flow::Next(turn))
    }
}
