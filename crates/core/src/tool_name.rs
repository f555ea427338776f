//! Every tool's name, as a type: [`ToolName`]. The model and the tool API name a tool by a
//! string, and a string from outside stays one until [`ToolName::parse`] reads it; clerk's own
//! code names a tool by its variant, so that a misspelt name is a compile error and a tool's uses
//! are found by its variant. Each tool's description is compiled in from
//! `prompts/tools/{name}.json` beside its name ([`ToolName::embedded_description`]).

macro_rules! tool_names {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A tool of clerk's registry, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ToolName {
            $($(#[$doc])* $variant,)*
        }

        impl ToolName {
            /// Every tool, in the order of their names.
            pub const ALL: &[ToolName] = &[$(ToolName::$variant,)*];

            /// The name the model, the tool API and `prompts/tools/` use.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ToolName::$variant => $name,)*
                }
            }

            /// The tool a name names, if it is one of clerk's.
            pub fn parse(name: &str) -> Option<ToolName> {
                match name {
                    $($name => Some(ToolName::$variant),)*
                    _ => None,
                }
            }

            /// Its description as compiled in (`prompts/tools/{name}.json`); a prompts folder
            /// may override it at run time ([`crate::prompts::Prompts`]).
            pub const fn embedded_description(self) -> &'static str {
                match self {
                    $(ToolName::$variant =>
                        include_str!(concat!("../../../prompts/tools/", $name, ".json")),)*
                }
            }
        }
    };
}

tool_names! {
    /// Arithmetic on amounts.
    Calculate => "calculate",
    /// Cancels a pending order (a write).
    CancelPendingOrder => "cancel_pending_order",
    /// The merchant's customer segments.
    CustomerSummary => "customer_summary",
    /// Exchanges a delivered order's items (a write).
    ExchangeDeliveredOrderItems => "exchange_delivered_order_items",
    /// Identifies a shopper by email.
    FindUserIdByEmail => "find_user_id_by_email",
    /// Identifies a shopper by name and zip code.
    FindUserIdByNameZip => "find_user_id_by_name_zip",
    /// Weeks of demand ahead for a product.
    ForecastDemand => "forecast_demand",
    /// One item (a product's variant).
    GetItemDetails => "get_item_details",
    /// One order.
    GetOrderDetails => "get_order_details",
    /// One product and its variants.
    GetProductDetails => "get_product_details",
    /// The authenticated shopper's account.
    GetUserDetails => "get_user_details",
    /// The catalog's product types.
    ListAllProductTypes => "list_all_product_types",
    /// Changes a pending order's address (a write).
    ModifyPendingOrderAddress => "modify_pending_order_address",
    /// Changes a pending order's items (a write).
    ModifyPendingOrderItems => "modify_pending_order_items",
    /// Changes a pending order's payment method (a write).
    ModifyPendingOrderPayment => "modify_pending_order_payment",
    /// Changes the account's address (a write).
    ModifyUserAddress => "modify_user_address",
    /// A price change's units, revenue and substitutes.
    PriceWhatIf => "price_what_if",
    /// Products to suggest.
    RecommendProducts => "recommend_products",
    /// What to reorder.
    ReorderSuggestions => "reorder_suggestions",
    /// Returns a delivered order's items (a write).
    ReturnDeliveredOrderItems => "return_delivered_order_items",
    /// What reviewers say of a product.
    ReviewSummary => "review_summary",
    /// The merchant's risk-scored writes.
    RiskyRequests => "risky_requests",
    /// A period's sales against the one before.
    SalesChange => "sales_change",
    /// A period's sales figures.
    SalesSummary => "sales_summary",
    /// The store's help articles.
    SearchHelp => "search_help",
    /// The product index.
    SearchProducts => "search_products",
    /// The store in figures, for the merchant.
    StoreOverview => "store_overview",
    /// Conversations, handoffs and moods.
    SupportSummary => "support_summary",
    /// Hands the conversation to a person.
    TransferToHumanAgents => "transfer_to_human_agents",
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ToolName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl AsRef<str> for ToolName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<ToolName> for String {
    fn from(name: ToolName) -> String {
        name.as_str().to_owned()
    }
}

/// A name read from outside (a model's call, a stored call) against one of clerk's tools.
impl PartialEq<ToolName> for str {
    fn eq(&self, tool: &ToolName) -> bool {
        self == tool.as_str()
    }
}

impl PartialEq<ToolName> for String {
    fn eq(&self, tool: &ToolName) -> bool {
        self.as_str() == tool.as_str()
    }
}

impl PartialEq<ToolName> for &str {
    fn eq(&self, tool: &ToolName) -> bool {
        *self == tool.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_has_its_description() {
        for &tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
            let description: serde_json::Value =
                serde_json::from_str(tool.embedded_description()).unwrap();
            assert!(description.is_object(), "{tool}");
        }
        assert_eq!(ToolName::parse("cancel_order"), None);
        assert_eq!(ToolName::ALL.len(), 29);
    }

    #[test]
    fn every_description_file_is_a_tool() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../prompts/tools");
        for entry in std::fs::read_dir(folder).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let name = file.strip_suffix(".json").unwrap();
            assert!(ToolName::parse(name).is_some(), "{file} names no tool");
        }
    }
}
