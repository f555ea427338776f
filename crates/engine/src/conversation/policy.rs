//! The store's policy, enforced in code whatever the model does: which tools a conversation may
//! be offered and may run, given who it authenticated as; what counts as an explicit
//! confirmation; how a write awaiting confirmation is described to the shopper.

use clerk_core::llm::ToolCall;
use clerk_core::tools::{Access, ToolSpec};

/// What the engine does with a tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Do not run it: list it to the shopper and wait for an explicit yes.
    Confirm,
    /// Do not run it; the model is told why (as the tool's error).
    Refuse(String),
}

/// Whether a tool may be offered to the model in this state: before authentication, only tools
/// that touch no customer's data and the means to authenticate; after it, never the means to
/// become another customer.
pub fn offered(access: Access, authenticated: Option<&str>) -> bool {
    match access {
        Access::Public | Access::Personal | Access::Handoff => true,
        Access::Identify => authenticated.is_none(),
        Access::CustomerRead | Access::CustomerWrite => authenticated.is_some(),
        Access::Merchant => false,
    }
}

/// Whether a tool may be offered in a merchant's conversation: the catalog and the merchant's
/// tools, nothing that acts as or on one customer, and no handoff (the merchant is the store).
pub fn offered_to_merchant(access: Access) -> bool {
    matches!(access, Access::Public | Access::Merchant)
}

/// Judges a tool call in a merchant's conversation.
pub fn judge_for_merchant(access: Access) -> Verdict {
    if offered_to_merchant(access) {
        Verdict::Run
    } else {
        Verdict::Refuse(
            "merchant mode has no tools that act as or on one customer, nor a transfer; customers are helped in their own conversations"
                .into(),
        )
    }
}

/// Judges a tool call. `owner` is the customer the call's target belongs to (the `user_id`
/// argument, or the owner of the `order_id` argument), when it names one that exists.
pub fn judge(access: Access, authenticated: Option<&str>, owner: Option<&str>) -> Verdict {
    match access {
        Access::Public | Access::Handoff => Verdict::Run,
        Access::Personal => match (authenticated, owner) {
            (_, None) => Verdict::Run,
            (Some(user), Some(owner)) if owner == user => Verdict::Run,
            (None, Some(_)) => Verdict::Refuse(
                "a customer's own history needs them authenticated first: find their user id by email, or by name and zip code".into(),
            ),
            (Some(user), Some(_)) => Verdict::Refuse(format!(
                "that belongs to another customer; this conversation can only access the records of {user}"
            )),
        },
        Access::Merchant => Verdict::Refuse("that tool is for the store's merchant, not for customers".into()),
        Access::Identify => match authenticated {
            None => Verdict::Run,
            Some(user) => Verdict::Refuse(format!(
                "this conversation is already authenticated as {user}; one conversation can only help one customer"
            )),
        },
        Access::CustomerRead | Access::CustomerWrite => match (authenticated, owner) {
            (None, _) => Verdict::Refuse(
                "the customer is not authenticated: first find their user id by email, or by name and zip code".into(),
            ),
            (Some(user), Some(owner)) if owner != user => Verdict::Refuse(format!(
                "that belongs to another customer; this conversation can only access the records of {user}"
            )),
            _ if access == Access::CustomerWrite => Verdict::Confirm,
            _ => Verdict::Run,
        },
    }
}

/// The tools to offer in this state, in registry order: a merchant's conversation (`merchant`)
/// or a shopper's, authenticated or not.
pub fn tools_for(
    specs: impl Iterator<Item = ToolSpec>,
    authenticated: Option<&str>,
    merchant: bool,
) -> Vec<ToolSpec> {
    specs
        .filter(|spec| {
            if merchant {
                offered_to_merchant(spec.access)
            } else {
                offered(spec.access, authenticated)
            }
        })
        .collect()
}

/// Whether a write's every detail was shown to the shopper in `listing` (a reply of the bot's):
/// each text and number of its arguments appears in it, as written (letter case aside). A yes to
/// such a listing confirms exactly that write; a detail missing from it (an item id described only
/// by name, another order) means the shopper has not seen what would run.
pub fn listed_in(call: &ToolCall, listing: &str) -> bool {
    fn leaves(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(text) if !text.trim().is_empty() => {
                out.push(text.trim().to_lowercase())
            }
            serde_json::Value::Number(number) => out.push(number.to_string()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
            serde_json::Value::Object(fields) => fields.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    let mut details = Vec::new();
    // The account a write is for is the conversation's own (the gates see to it): its user id
    // is the store's key, never shown to the shopper.
    let shown = call.arguments.as_object().into_iter().flatten();
    shown
        .filter(|(name, _)| name.as_str() != "user_id")
        .for_each(|(_, value)| leaves(value, &mut details));
    let listing = listing.to_lowercase();
    !details.is_empty() && details.iter().all(|detail| stated(&listing, detail))
}

/// Whether `detail` stands in `text` whole: not as a part of a longer id or word ("1234567" is
/// not stated by "#W12345678").
fn stated(text: &str, detail: &str) -> bool {
    let inner = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(detail).any(|(at, _)| {
        !inner(text[..at].chars().next_back()) && !inner(text[at + detail.len()..].chars().next())
    })
}

/// Whether the shopper's message is an explicit, unconditional yes: it starts with a yes, is
/// short, and neither negates, hedges nor changes anything ("yes but to the other address" is
/// not a yes).
pub fn is_confirmation(message: &str) -> bool {
    let normalised: String = message
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = normalised.split_whitespace().collect();
    const YES: [&str; 8] = [
        "yes",
        "yeah",
        "yep",
        "yup",
        "confirm",
        "confirmed",
        "proceed",
        "sure",
    ];
    const NOT: [&str; 15] = [
        "no",
        "not",
        "don't",
        "dont",
        "never",
        "but",
        "wait",
        "instead",
        "however",
        "change",
        "different",
        "actually",
        "except",
        "only",
        "if",
    ];
    let starts_with_yes = words.first().is_some_and(|w| YES.contains(w))
        || words.starts_with(&["i", "confirm"])
        || words.starts_with(&["go", "ahead"])
        || words.starts_with(&["please", "proceed"])
        || words.starts_with(&["please", "go", "ahead"]);
    starts_with_yes
        && words.len() <= 8
        && !message.contains('?')
        && !words.iter().any(|w| NOT.contains(w))
}

/// What to tell the shopper once the confirmed write `call` has run and answered `output` (the
/// record it changed): its `templates` entry, filled from the call and the record, the payment
/// method in the words of `methods` (the account's, "your Mastercard ending 2478") or else by
/// its kind. `None` for a tool without one, which the model then reports.
pub fn done(
    templates: &std::collections::HashMap<String, String>,
    call: &ToolCall,
    output: &str,
    methods: &[(String, String)],
) -> Option<String> {
    let template = templates.get(&call.name)?;
    let arguments = &call.arguments;
    let text = |key: &str| arguments.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let method = text("payment_method_id");
    let payment = if let Some((_, words)) = methods.iter().find(|(id, _)| id == method) {
        words.clone()
    } else if method.starts_with("paypal") {
        "your PayPal account".to_owned()
    } else if method.starts_with("gift_card") {
        "your gift card".to_owned()
    } else if method.starts_with("credit_card") {
        "your credit card".to_owned()
    } else {
        method.to_owned()
    };
    let order: Option<clerk_core::store::model::Order> = serde_json::from_str(output).ok();
    let items: Vec<String> = arguments
        .get("item_ids")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str())
        .filter_map(|id| {
            let order = order.as_ref()?;
            order
                .items
                .iter()
                .find(|i| i.item_id == id)
                .map(|i| i.name.to_lowercase())
        })
        .collect();
    Some(
        template
            .replace("{order_id}", text("order_id"))
            .replace("{address}", &address_of(arguments))
            .replace("{payment}", &payment)
            .replace("{items}", &items.join(" and ")),
    )
}

/// The words that list a write to the shopper before asking for a yes: every argument, exactly,
/// each id the shopper may not know by its number followed by what it is (`known`: an item id →
/// "Headphones: over-ear, wireless, blue", a payment method id → "PayPal"); but the user id, the
/// store's key of the account, which is the shopper's own.
pub fn describe_with(call: &ToolCall, known: &std::collections::HashMap<String, String>) -> String {
    let action = call.name.replace('_', " ");
    let shown = |id: &str| match known.get(id) {
        Some(what) => format!("{id} ({what})"),
        None => id.to_owned(),
    };
    let details: Vec<String> = call
        .arguments
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.as_str() != "user_id")
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => shown(s),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), shown))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("- {}: {value}", name.replace('_', " "))
        })
        .collect();
    format!("{action}\n{}", details.join("\n"))
}

/// The words that list a write to the shopper before asking for a yes, by the store's
/// `templates` (`[listing]` in `prompts/replies.toml`) where the tool has one: items by name and
/// options, an exchange as what changes, a payment method in words (`known`, as for
/// [`describe_with`]), never an internal id that `known` can tell, never the user id. A tool
/// without a template is listed by [`describe_with`].
pub fn describe_for_shopper(
    call: &ToolCall,
    known: &std::collections::HashMap<String, String>,
    templates: &std::collections::HashMap<String, String>,
) -> String {
    let Some(template) = templates.get(&call.name) else {
        return describe_with(call, known);
    };
    let arguments = &call.arguments;
    let text = |key: &str| arguments.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let ids = |key: &str| -> Vec<&str> {
        arguments
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect()
    };
    let words = |id: &str| known.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let items: Vec<String> = ids("item_ids")
        .into_iter()
        .map(|id| format!("- {}", item_phrase(&words(id))))
        .collect();
    let changes: Vec<String> = ids("item_ids")
        .into_iter()
        .zip(ids("new_item_ids"))
        .map(|(old, new)| format!("- {}", change_phrase(&words(old), &words(new))))
        .collect();
    template
        .replace("{order_id}", text("order_id"))
        .replace("{items}", &items.join("\n"))
        .replace("{changes}", &changes.join("\n"))
        .replace("{payment}", &words(text("payment_method_id")))
        .replace("{address}", &address_of(arguments))
        .replace("{reason}", text("reason"))
}

/// The address a write's arguments give (`address1` … `zip`), on one line.
fn address_of(arguments: &serde_json::Value) -> String {
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    clerk_core::tools::present::address_line(&clerk_core::store::model::Address {
        address1: text("address1"),
        address2: text("address2"),
        city: text("city"),
        country: text("country"),
        state: text("state"),
        zip: text("zip"),
    })
}

/// An item's words ("Headphones: type over-ear, color blue", as `known` tells it) as a list
/// reads them: "Headphones (type over-ear, color blue)".
fn item_phrase(words: &str) -> String {
    match words.split_once(": ") {
        Some((name, options)) => format!("{name} ({options})"),
        None => words.to_owned(),
    }
}

/// An item changed for another, by what changes: "Headphones: color blue → color black" for
/// two variants of one product, both whole otherwise.
fn change_phrase(old: &str, new: &str) -> String {
    if let (Some((name, from)), Some((new_name, to))) = (old.split_once(": "), new.split_once(": "))
        && name == new_name
    {
        let from: Vec<&str> = from.split(", ").collect();
        let to: Vec<&str> = to.split(", ").collect();
        if from.len() == to.len() && from != to {
            let (was, is): (Vec<&str>, Vec<&str>) = from
                .iter()
                .zip(&to)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (*a, *b))
                .unzip();
            return format!("{name}: {} → {}", was.join(", "), is.join(", "));
        }
    }
    format!("{} → {}", item_phrase(old), item_phrase(new))
}

/// [`describe_with`] with nothing known beside the ids, and the user id: for staff, who read
/// ids.
pub fn describe(call: &ToolCall) -> String {
    let listed = describe_with(call, &std::collections::HashMap::new());
    match call.arguments["user_id"].as_str() {
        Some(user) => format!("{listed}\n- user id: {user}"),
        None => listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_write_is_told_from_the_call_and_its_record() {
        let templates: std::collections::HashMap<String, String> = [
            ("modify_user_address", "Now {address}."),
            (
                "modify_pending_order_payment",
                "{order_id} paid with {payment}.",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let call = |name: &str, arguments: serde_json::Value| ToolCall {
            name: name.into(),
            arguments,
        };
        assert_eq!(
            done(
                &templates,
                &call(
                    "modify_user_address",
                    serde_json::json!({"user_id": "u", "address1": "9 Lake View", "address2": "", "city": "Madison", "state": "WI", "country": "USA", "zip": "53703"})
                ),
                "{}",
                &[]
            )
            .as_deref(),
            Some("Now 9 Lake View, Madison, WI 53703, USA.")
        );
        assert_eq!(
            done(
                &templates,
                &call(
                    "modify_pending_order_payment",
                    serde_json::json!({"order_id": "#W1", "payment_method_id": "paypal_5181300"})
                ),
                "{}",
                &[]
            )
            .as_deref(),
            Some("#W1 paid with your PayPal account.")
        );
        // The account's own words for the method, where they are known.
        let methods = [(
            "credit_card_9513926".to_owned(),
            "your Mastercard ending 2478".to_owned(),
        )];
        assert_eq!(
            done(
                &templates,
                &call(
                    "modify_pending_order_payment",
                    serde_json::json!({"order_id": "#W1", "payment_method_id": "credit_card_9513926"})
                ),
                "{}",
                &methods
            )
            .as_deref(),
            Some("#W1 paid with your Mastercard ending 2478.")
        );
        // A tool without words: the model reports it.
        assert_eq!(
            done(
                &templates,
                &call("calculate", serde_json::json!({})),
                "4",
                &[]
            ),
            None
        );
    }

    #[test]
    fn a_write_is_listed_only_when_every_detail_stands_whole() {
        let call = ToolCall {
            name: "cancel_pending_order".into(),
            arguments: serde_json::json!({"order_id": "#W2417020", "reason": "ordered by mistake"}),
        };
        assert!(listed_in(
            &call,
            "I can cancel order #W2417020, reason 'Ordered by mistake'. Shall I?"
        ));
        assert!(!listed_in(&call, "I can cancel order #W2417020. Shall I?"));
        assert!(!listed_in(&call, "Cancel #W24170201 (ordered by mistake)?"));
        let empty = ToolCall {
            name: "x".into(),
            arguments: serde_json::json!({"note": " "}),
        };
        assert!(!listed_in(&empty, "anything"));
    }

    #[test]
    fn a_write_is_listed_to_the_shopper_by_name_options_and_words() {
        let templates: std::collections::HashMap<String, String> =
            clerk_core::prompts::Prompts::new(None)
                .replies()
                .expect("the compiled-in replies")
                .listing;
        let known: std::collections::HashMap<String, String> = [
            ("4202497723", "Headphones: type over-ear, color blue"),
            ("7493556126", "Headphones: type over-ear, color black"),
            ("6574183535", "Notebook: size A6, cover type hard cover"),
            ("credit_card_9513926", "credit card, mastercard ending 2478"),
        ]
        .into_iter()
        .map(|(id, words)| (id.to_owned(), words.to_owned()))
        .collect();
        let exchange = ToolCall {
            name: "exchange_delivered_order_items".into(),
            arguments: serde_json::json!({"order_id": "#W2378156", "item_ids": ["4202497723"],
                "new_item_ids": ["7493556126"], "payment_method_id": "credit_card_9513926",
                "user_id": "yusuf_rossi_9620"}),
        };
        assert_eq!(
            describe_for_shopper(&exchange, &known, &templates),
            "Exchange items from order #W2378156\n\
             - Headphones: color blue → color black\n\
             - price difference paid or refunded with: credit card, mastercard ending 2478"
        );
        let ret = ToolCall {
            name: "return_delivered_order_items".into(),
            arguments: serde_json::json!({"order_id": "#W7736708",
                "item_ids": ["6574183535", "4202497723"], "payment_method_id": "credit_card_9513926"}),
        };
        assert_eq!(
            describe_for_shopper(&ret, &known, &templates),
            "Return items from order #W7736708\n\
             - Notebook (size A6, cover type hard cover)\n\
             - Headphones (type over-ear, color blue)\n\
             - refund to: credit card, mastercard ending 2478"
        );
        // A tool the store has no words for is listed argument by argument.
        let other = ToolCall {
            name: "gift_wrap".into(),
            arguments: serde_json::json!({"order_id": "#W1", "item_ids": ["6574183535"]}),
        };
        assert_eq!(
            describe_for_shopper(&other, &known, &templates),
            "gift wrap\n- order id: #W1\n- item ids: 6574183535 (Notebook: size A6, cover type hard cover)"
        );
    }

    #[test]
    fn only_plain_yeses_confirm() {
        for yes in [
            "yes",
            "Yes.",
            "YES!",
            "yes please",
            "Yes, go ahead",
            "confirm",
            "I confirm",
            "go ahead",
            "yep, do it",
            "sure",
        ] {
            assert!(is_confirmation(yes), "{yes}");
        }
        for not_yes in [
            "",
            "no",
            "not yet",
            "yes but use the other card",
            "yes, but change the reason",
            "yes? what will it cost",
            "ok",
            "I guess",
            "cancel it",
            "yes if it is refunded",
            "yes actually make it the red one",
            "wait",
            "yes instead ship it to my office",
            "yes yes yes yes yes yes yes yes yes",
        ] {
            assert!(!is_confirmation(not_yes), "{not_yes}");
        }
    }

    #[test]
    fn customer_data_needs_authentication_and_the_right_customer() {
        use Access::*;
        assert_eq!(judge(Public, None, None), Verdict::Run);
        assert_eq!(judge(Identify, None, None), Verdict::Run);
        assert!(matches!(
            judge(Identify, Some("a"), None),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(CustomerRead, None, Some("a")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(CustomerRead, Some("a"), Some("b")),
            Verdict::Refuse(_)
        ));
        assert_eq!(judge(CustomerRead, Some("a"), Some("a")), Verdict::Run);
        assert_eq!(judge(CustomerRead, Some("a"), None), Verdict::Run);
        assert_eq!(judge(CustomerWrite, Some("a"), Some("a")), Verdict::Confirm);
        assert!(matches!(
            judge(CustomerWrite, Some("a"), Some("b")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(CustomerWrite, None, None),
            Verdict::Refuse(_)
        ));
        assert!(offered(Identify, None) && !offered(Identify, Some("a")));
        // Merchant tools: never for a shopper, authenticated or not.
        assert!(!offered(Merchant, None) && !offered(Merchant, Some("a")));
        assert!(matches!(
            judge(Merchant, Some("a"), None),
            Verdict::Refuse(_)
        ));
        assert_eq!(judge_for_merchant(Merchant), Verdict::Run);
        assert!(matches!(
            judge_for_merchant(CustomerRead),
            Verdict::Refuse(_)
        ));
        assert!(matches!(judge_for_merchant(Handoff), Verdict::Refuse(_)));
        assert!(!offered(CustomerRead, None) && offered(CustomerWrite, Some("a")));
        // Personal tools: offered to every shopper; a customer's own history only to them.
        assert!(offered(Personal, None) && offered(Personal, Some("a")));
        assert_eq!(judge(Personal, None, None), Verdict::Run);
        assert_eq!(judge(Personal, Some("a"), Some("a")), Verdict::Run);
        assert!(matches!(
            judge(Personal, None, Some("a")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            judge(Personal, Some("a"), Some("b")),
            Verdict::Refuse(_)
        ));
        // Not in merchant mode: it can read one customer's history.
        assert!(matches!(judge_for_merchant(Personal), Verdict::Refuse(_)));
    }
}
