//! The engine's own lookups, a stage of a shopper's turn ([`super::turn::Stage::Lookups`]):
//! the steps the policy makes deterministic, taken before the model is asked ([`super::assist`]).
//! An email, or a name with a zip, in an unauthenticated shopper's message is looked up; a
//! product named outside an order question is searched for (or its reviews summarised), a
//! question about how the store works is searched in the help articles; a request for
//! suggestions gets the recommender's; the account of a shopper authenticated by the message is
//! read; the orders an authenticated shopper names are fetched (those of another customer never
//! are). Each is stored as a call and its result, as if the model had made it. The write the
//! message fixes whole, if any ([`super::proposal`]), is kept on the turn for the stage after.

use super::reading::Reading;
use super::turn::{Flow, Turn};
use super::{Engine, EngineError, found, proposal, tool_call};
use clerk_core::llm::ToolCall;
use clerk_core::retail::RetailError;
use clerk_core::tool_name::ToolName;
use policy::Verdict;

use super::policy;

impl Engine {
    /// The lookups of a shopper's turn.
    pub(super) async fn lookups<'a>(&self, mut turn: Turn<'a>) -> Result<Flow<'a>, EngineError> {
        let reading = turn.reading;
        let was_authenticated = turn.authenticated.is_some();
        if !was_authenticated && self.identity.identify_in_chat() {
            self.identify(&mut turn).await?;
        }
        let mut named = reading.order_ids.clone();
        if named.is_empty() {
            self.product_lookups(&mut turn).await?;
        }
        // A shopper who asks what to buy gets the recommender's suggestions (last, so that the
        // model reads them right before the question): from their own orders once
        // authenticated, else what customers bought lately.
        let suggest = named.is_empty()
            && reading.asks_for_suggestions
            && self.tools.spec(ToolName::RecommendProducts).is_some();
        let Some(user) = turn.authenticated.clone() else {
            if suggest {
                let call = tool_call(ToolName::RecommendProducts, serde_json::json!({"limit": 3}));
                self.run_tool_by(&mut turn, &call, true).await?;
            }
            return Ok(Flow::Next(turn));
        };
        // A shopper who named their order before they could be identified ("my email is wrong,
        // try this one") gets it fetched now.
        if !was_authenticated && named.is_empty() {
            let earlier = self
                .earlier_orders(turn.conversation_id, &reading.text)
                .await?;
            if let Some((ids, asked)) = earlier {
                named = ids;
                turn.asked_before = Some(asked);
            }
        }
        turn.proposal = self.request_proposal(&turn, &named, &user).await?;
        let mut calls = Vec::new();
        // A conversation that started authenticated (a verified shopper) has its account read
        // at the first message that needs it, as one authenticated by that message.
        let account_unread = !was_authenticated || !self.account_read(turn.conversation_id).await?;
        if account_unread && (named.is_empty() || reading.about_account) {
            calls.push(tool_call(
                ToolName::GetUserDetails,
                serde_json::json!({"user_id": user}),
            ));
        }
        let fresh = self.fresh_orders(turn.conversation_id).await?;
        calls.extend(
            named
                .into_iter()
                .filter(|id| !fresh.contains(id))
                .take(3)
                .map(|id| {
                    tool_call(
                        ToolName::GetOrderDetails,
                        serde_json::json!({"order_id": id}),
                    )
                }),
        );
        if suggest {
            calls.push(tool_call(
                ToolName::RecommendProducts,
                serde_json::json!({"user_id": user, "limit": 3}),
            ));
        }
        for call in calls {
            // The same gate as the model's calls: another customer's order is never fetched.
            if self.verdict(&turn, &call).await? == Verdict::Run {
                self.run_tool_by(&mut turn, &call, true).await?;
            }
        }
        Ok(Flow::Next(turn))
    }

    /// Looks up the shopper by the email, or else the name with a zip, their message gives.
    async fn identify(&self, turn: &mut Turn<'_>) -> Result<(), EngineError> {
        let reading = turn.reading;
        if let Some(email) = reading.emails.first() {
            let call = tool_call(
                ToolName::FindUserIdByEmail,
                serde_json::json!({"email": email}),
            );
            self.run_tool_by(turn, &call, true).await?;
        }
        if turn.authenticated.is_some() {
            return Ok(());
        }
        for (first_name, last_name, zip) in &reading.names_with_zip {
            let arguments =
                serde_json::json!({"first_name": first_name, "last_name": last_name, "zip": zip});
            // Tried quietly: only a name that matches is shown to the model.
            if self
                .tools
                .call(ToolName::FindUserIdByNameZip, arguments.clone())
                .await
                .is_ok()
            {
                let call = tool_call(ToolName::FindUserIdByNameZip, arguments);
                self.run_tool_by(turn, &call, true).await?;
                break;
            }
        }
        Ok(())
    }

    /// A product the shopper names (an order aside) is searched for; asked what its reviewers
    /// say, its reviews are summarised instead; asked how the store works, its help articles
    /// are searched.
    async fn product_lookups(&self, turn: &mut Turn<'_>) -> Result<(), EngineError> {
        let reading = turn.reading;
        let text = reading.text.as_str();
        let types = self.catalog_products().await?;
        let reviewed = reading.asks_about_reviews
            && self.tools.spec(ToolName::ReviewSummary).is_some()
            && self.store().review_count().await? > 0;
        let names: Vec<String> = types.iter().map(|(name, _)| name.clone()).collect();
        if reading.superlative.is_some() && super::assist::one_product(text, &types).is_some() {
            // The cheapest or dearest of one product: its own stage lists it by price.
            return Ok(());
        }
        let call = if let Some(product) =
            super::assist::one_product(text, &types).filter(|_| reviewed)
        {
            tool_call(
                ToolName::ReviewSummary,
                serde_json::json!({ "product_id": product }),
            )
        } else if let Some((query, products)) = super::assist::product_query(text, &names) {
            // One product a name: each costs the model hundreds of tokens to read.
            tool_call(
                ToolName::SearchProducts,
                serde_json::json!({"query": query.chars().take(200).collect::<String>(), "limit": products.min(3)}),
            )
        } else if reading.asks_how_the_store_works
            && self.tools.spec(ToolName::SearchHelp).is_some()
        {
            // The store's help articles answer it: the model reads the passages found.
            tool_call(
                ToolName::SearchHelp,
                serde_json::json!({"query": text.chars().take(300).collect::<String>()}),
            )
        } else {
            return Ok(());
        };
        self.run_tool_by(turn, &call, true).await?;
        Ok(())
    }

    /// The catalog's products, by name and id (none when the catalog cannot be read but the
    /// store can).
    pub(super) async fn catalog_products(&self) -> Result<Vec<(String, String)>, EngineError> {
        match self.retail.product_types().await {
            Ok(types) => Ok(types),
            Err(RetailError::Store(e)) => Err(e.into()),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// The write the shopper's request fixes whole: this message, or, when it leaves the
    /// request open, the request given over several messages ("I want to cancel #W…" — "why?"
    /// — "I no longer need it"), read whole once its last detail comes.
    async fn request_proposal(
        &self,
        turn: &Turn<'_>,
        named: &[String],
        user: &str,
    ) -> Result<Option<ToolCall>, EngineError> {
        let proposal = self.propose(turn.reading, named, user).await?;
        if proposal.is_some() || !named.is_empty() {
            return Ok(proposal);
        }
        let request = self.open_request(turn.conversation_id).await?;
        if request == turn.reading.text {
            return Ok(None);
        }
        let request = Reading::of(&request);
        self.propose(&request, &request.order_ids, user).await
    }

    /// The write the message read as `reading` fixes whole ([`proposal`]), read against the
    /// account of `user_id`, the one order it names and that order's products; `None` when the
    /// words leave anything open.
    async fn propose(
        &self,
        reading: &Reading,
        named: &[String],
        user_id: &str,
    ) -> Result<Option<ToolCall>, EngineError> {
        let Some(intent) = proposal::intent(reading, !named.is_empty()) else {
            return Ok(None);
        };
        let order = match named {
            [] => None,
            [order_id] => match found(self.retail.order_details(order_id).await)? {
                Some(order) => Some(order),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let Some(user) = found(self.retail.user_details(user_id).await)? else {
            return Ok(None);
        };
        let mut products = Vec::new();
        if let Some(order) = order.as_ref().filter(|o| o.user_id == user.user_id) {
            for product_id in proposal::named_products(reading, order) {
                products.extend(found(self.retail.product_details(&product_id).await)?);
            }
        }
        Ok(
            proposal::propose(reading, &intent, &user, order.as_ref(), &products)
                .map(|p| tool_call(p.tool, p.arguments)),
        )
    }
}
