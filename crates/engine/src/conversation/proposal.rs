//! The writes a shopper's message fixes whole, which the engine lists itself rather than waiting
//! for a small model to assemble their arguments: a cancellation with its reason, an order's or
//! the account's new address written out in full, an order paid another way, the return of named
//! items, and an item exchanged or changed for the variant the message describes.
//!
//! Each reading is strict: anything the message leaves open (two payment methods of the kind it
//! names, an option with two new values, an address without a state and zip) gives no proposal,
//! and the model carries on with the conversation as before. A proposal is only ever listed: the
//! shopper sees every detail and must answer yes, the policy's gate judges it as it judges the
//! model's calls, and the store must accept it in rehearsal before it is shown.

use super::assist;
use super::reading::Reading;
use clerk_core::store::model::{Address, Order, OrderItem, PaymentMethod, Product, User};
use clerk_core::tool_name::ToolName;
use serde_json::{Value, json};

/// A write to list: the tool and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The tool's name.
    pub tool: ToolName,
    /// Its arguments.
    pub arguments: Value,
}

/// What a message asks to change, as far as the words say.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Cancel the named order, for the policy's reason.
    Cancel(&'static str),
    /// Ship the named order to this address.
    OrderAddress(Address),
    /// Make this the account's default address.
    AccountAddress(Address),
    /// Return items of the named order.
    Return,
    /// Exchange (delivered) or change (pending) an item of the named order for another variant,
    /// or, when the message names no item, pay the order another way.
    Change,
}

/// What the message read as `reading` asks to change; `order_named` says whether it names an
/// order.
pub fn intent(reading: &Reading, order_named: bool) -> Option<Intent> {
    let lower = &reading.lower;
    let word = |w: &str| has_word(lower, w);
    if let Some(reason) = reading.cancel_reason {
        return order_named.then_some(Intent::Cancel(reason));
    }
    if let Some(address) = reading.address.clone() {
        // Asked for, not asked about ("was it going to …?").
        let asks = [
            "change", "update", "send", "ship", "deliver", "move", "moved", "instead", "new",
            "switch", "modify", "redirect", "set",
        ]
        .iter()
        .any(|w| word(w));
        if !asks {
            return None;
        }
        if order_named {
            return Some(Intent::OrderAddress(address));
        }
        let about_account = [
            "default address",
            "my address",
            "moved",
            "account",
            "profile",
        ]
        .iter()
        .any(|p| lower.contains(p));
        return about_account.then_some(Intent::AccountAddress(address));
    }
    if !order_named {
        return None;
    }
    if word("return") {
        return Some(Intent::Return);
    }
    let changes = ["exchange", "change", "swap", "switch", "replace", "instead"]
        .iter()
        .any(|w| word(w));
    let pays = (word("pay") || lower.contains("payment")) && !payment_kinds(lower).is_empty();
    (changes || pays).then_some(Intent::Change)
}

/// The write `intent` proposes, from the shopper's `user` account, the one `order` the message
/// names (when it names one) and the products of that order's items (for a new variant).
pub fn propose(
    reading: &Reading,
    intent: &Intent,
    user: &User,
    order: Option<&Order>,
    products: &[Product],
) -> Option<Proposal> {
    let lower = &reading.lower;
    let proposal = |tool, arguments| Some(Proposal { tool, arguments });
    let address_fields = |mut arguments: Value, a: &Address| {
        for (key, value) in [
            ("address1", &a.address1),
            ("address2", &a.address2),
            ("city", &a.city),
            ("state", &a.state),
            ("country", &a.country),
            ("zip", &a.zip),
        ] {
            arguments[key] = json!(value);
        }
        arguments
    };
    if let Intent::AccountAddress(address) = intent {
        let arguments = address_fields(json!({"user_id": user.user_id}), address);
        return proposal(ToolName::ModifyUserAddress, arguments);
    }
    let order = order.filter(|o| o.user_id == user.user_id)?;
    let order_id = order.order_id.as_str();
    match intent {
        Intent::AccountAddress(_) => None,
        Intent::Cancel(reason) => proposal(
            ToolName::CancelPendingOrder,
            json!({"order_id": order_id, "reason": reason}),
        ),
        Intent::OrderAddress(address) => proposal(
            ToolName::ModifyPendingOrderAddress,
            address_fields(json!({"order_id": order_id}), address),
        ),
        Intent::Change => {
            if let Some(change) = item_change(lower, user, order, products) {
                return Some(change);
            }
            // Paid another way: the method of a kind the message names that the order is not
            // paid with now.
            if !(has_word(lower, "pay") || lower.contains("payment")) {
                return None;
            }
            let current = original_method(order);
            let kinds = payment_kinds(lower);
            let mut candidates = user
                .payment_methods
                .values()
                .filter(|m| kinds.contains(&m.source()) && Some(m.id()) != current);
            match (candidates.next(), candidates.next()) {
                (Some(method), None) => proposal(
                    ToolName::ModifyPendingOrderPayment,
                    json!({"order_id": order_id, "payment_method_id": method.id()}),
                ),
                _ => None,
            }
        }
        Intent::Return => {
            let items = named_items(lower, order);
            if items.is_empty() {
                return None;
            }
            let method = chosen_method(lower, user, order)?;
            let item_ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
            proposal(
                ToolName::ReturnDeliveredOrderItems,
                json!({"order_id": order_id, "item_ids": item_ids, "payment_method_id": method}),
            )
        }
    }
}

/// An exchange (delivered order) or item change (pending order) of the one item the message
/// names, for the variant it describes, settled with the method it names.
fn item_change(lower: &str, user: &User, order: &Order, products: &[Product]) -> Option<Proposal> {
    let [item] = named_items(lower, order)[..] else {
        return None;
    };
    let product = products.iter().find(|p| p.product_id == item.product_id)?;
    let new_item = new_variant(lower, item, product)?;
    let method = chosen_method(lower, user, order)?;
    let tool = if order.status.is_pending() {
        ToolName::ModifyPendingOrderItems
    } else {
        ToolName::ExchangeDeliveredOrderItems
    };
    Some(Proposal {
        tool,
        arguments: json!({"order_id": order.order_id, "item_ids": [item.item_id], "new_item_ids": [new_item], "payment_method_id": method}),
    })
}

/// The ids of the products whose variants a proposal for `order` may need: those of the items
/// the message names.
pub fn named_products(reading: &Reading, order: &Order) -> Vec<String> {
    let mut ids: Vec<String> = named_items(&reading.lower, order)
        .into_iter()
        .map(|i| i.product_id.clone())
        .collect();
    ids.dedup();
    ids
}

/// A full postal address written in `text` as people write one: "123 Main St, Apt 4, Austin, TX
/// 78701, USA" (the second line and the country optional; the country is the USA unless named).
pub fn address(text: &str) -> Option<Address> {
    let chars: Vec<char> = text.chars().collect();
    // "TX 78701": two capitals, a space, five digits, standing alone.
    let at = (0..chars.len().saturating_sub(7)).find(|&i| {
        let state = chars[i].is_ascii_uppercase() && chars[i + 1].is_ascii_uppercase();
        let zip = chars[i + 2] == ' ' && chars[i + 3..i + 8].iter().all(char::is_ascii_digit);
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 8);
        state
            && zip
            && before.is_none_or(|c| c == ' ' || c == ',')
            && after.is_none_or(|c| !c.is_alphanumeric())
    })?;
    let state: String = chars[at..at + 2].iter().collect();
    let zip: String = chars[at + 3..at + 8].iter().collect();
    let before: String = chars[..at].iter().collect();
    let after: String = chars[at + 8..].iter().collect();
    let mut parts: Vec<&str> = before.split(',').map(str::trim).collect();
    if parts.last() == Some(&"") {
        parts.pop();
    }
    let city = parts.pop()?.to_owned();
    // The first line starts at its house number ("… to: 123 Main St"), and the second line, if
    // any, is the part between it and the city.
    let first_line = |part: &str| {
        let words: Vec<&str> = part.split_whitespace().collect();
        let number = words.iter().rposition(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_digit())
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })?;
        (number + 1 < words.len()).then(|| words[number..].join(" "))
    };
    let (address1, address2) = match parts.as_slice() {
        [.., first, second] if first_line(first).is_some() => {
            (first_line(first)?, (*second).to_owned())
        }
        [.., only] => (first_line(only)?, String::new()),
        [] => return None,
    };
    let country_part = after
        .trim_start_matches([',', ' '])
        .split([',', '.', '!', '?', '\n'])
        .next()
        .unwrap_or("")
        .trim();
    // "USA", or no country ("… TX 78701 instead"); another named country is not read.
    let country_lower = country_part.to_lowercase();
    let usa = ["usa", "us", "u.s", "united states", "america"]
        .iter()
        .any(|c| country_lower == *c || country_lower.starts_with(&format!("{c} ")));
    let named_other = country_part.chars().next().is_some_and(char::is_uppercase);
    if !usa && named_other {
        return None;
    }
    let country = "USA";
    let city_ok = !city.is_empty()
        && city
            .chars()
            .all(|c| c.is_alphabetic() || " .'-".contains(c));
    city_ok.then(|| Address {
        address1,
        address2,
        city,
        country: country.to_owned(),
        state,
        zip,
    })
}

/// The kinds of payment method a (lower-cased) message names, as stored: "paypal",
/// "gift_card", "credit_card".
pub fn payment_kinds(lower: &str) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if lower.contains("paypal") || lower.contains("pay pal") {
        kinds.push("paypal");
    }
    if lower.contains("gift card") || lower.contains("giftcard") {
        kinds.push("gift_card");
    }
    if lower.contains("credit card") || has_word(lower, "visa") || has_word(lower, "mastercard") {
        kinds.push("credit_card");
    }
    kinds
}

/// The payment method the order was paid with.
fn original_method(order: &Order) -> Option<&str> {
    order
        .payment_history
        .iter()
        .find(|p| p.transaction_type.as_str() == "payment")
        .map(|p| p.payment_method_id.as_str())
}

/// The payment method a refund or a price difference goes to: the order's own when the message
/// says so ("my original payment method", "the card I paid with") or names its kind; else the
/// one method of the account of the kind it names.
fn chosen_method<'a>(lower: &str, user: &'a User, order: &'a Order) -> Option<&'a str> {
    let original = original_method(order)?;
    let kinds = payment_kinds(lower);
    let says_original = [
        "original",
        "paid with",
        "i used",
        "same card",
        "same payment",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let original_kind = user
        .payment_methods
        .get(original)
        .map(PaymentMethod::source);
    if says_original && (kinds.is_empty() || original_kind.is_some_and(|k| kinds.contains(&k))) {
        return Some(original);
    }
    let mut candidates = user
        .payment_methods
        .values()
        .filter(|m| kinds.contains(&m.source()));
    match (candidates.next(), candidates.next()) {
        (Some(method), None) => Some(method.id()),
        _ => None,
    }
}

/// The order's items a (lower-cased) message names by their product's name, one per product;
/// where the order has several items of that product, the one whose options the message names
/// most (none when that leaves a tie).
fn named_items<'o>(lower: &str, order: &'o Order) -> Vec<&'o OrderItem> {
    let words = assist::message_words(lower);
    let mut found: Vec<&OrderItem> = Vec::new();
    let mut names: Vec<&str> = order.items.iter().map(|i| i.name.as_str()).collect();
    names.dedup();
    for name in names {
        if !assist::names_product(&words, name) {
            continue;
        }
        let same: Vec<&OrderItem> = order.items.iter().filter(|i| i.name == name).collect();
        let score = |item: &OrderItem| {
            item.options
                .values()
                .filter(|v| mentions(lower, &v.to_lowercase()))
                .count()
        };
        let best = same.iter().map(|i| score(i)).max().unwrap_or(0);
        let mut top = same.into_iter().filter(|i| score(i) == best);
        match (top.next(), top.next()) {
            (Some(item), None) => found.push(item),
            (Some(item), Some(other)) if item.item_id == other.item_id => found.push(item),
            _ => return Vec::new(),
        }
    }
    found
}

/// The variant of `product` the message asks for instead of `current`: each option keeps its
/// value unless the message names one other value for it. A value followed within two words by
/// an option's name ("black frame", "brown polarized lenses", "medium brightness") counts for that
/// option only. `None` when an option gets two new values, nothing changes, or no such variant
/// exists.
fn new_variant(lower: &str, current: &OrderItem, product: &Product) -> Option<String> {
    let words = words_of(lower);
    let mut wanted = current.options.clone();
    for (option, current_value) in &current.options {
        let mut values: Vec<String> = product
            .variants
            .values()
            .filter_map(|v| v.options.get(option))
            .map(|v| v.to_lowercase())
            .collect();
        values.sort();
        values.dedup();
        let mut new: Vec<&String> = values
            .iter()
            .filter(|value| **value != current_value.to_lowercase())
            .filter(|value| mentioned_for(lower, &words, value, option, &current.options))
            .collect();
        new.dedup();
        match new.as_slice() {
            [] => {}
            [value] => {
                let original = product
                    .variants
                    .values()
                    .filter_map(|v| v.options.get(option))
                    .find(|v| v.to_lowercase() == **value)?;
                wanted.insert(option.clone(), original.clone());
            }
            _ => return None,
        }
    }
    if wanted == current.options {
        return None;
    }
    product
        .variants
        .values()
        .find(|v| v.options == wanted)
        .map(|v| v.item_id.clone())
}

/// Whether `value` is named in the message for `option`: named, and not followed within two
/// words by the name of another of the item's options (unless that name is also this option's).
fn mentioned_for(
    lower: &str,
    words: &[String],
    value: &str,
    option: &str,
    options: &clerk_core::store::model::Options,
) -> bool {
    if !mentions(lower, value) {
        return false;
    }
    let value_words = words_of(value);
    let name_words = |name: &str| words_of(&name.to_lowercase());
    let ours = name_words(option);
    // Each place the value stands in the message: does an option's name follow it?
    let mut any_place = false;
    for start in 0..words.len() {
        if words[start..].starts_with(&value_words) {
            let next = &words[(start + value_words.len()).min(words.len())..];
            let next = &next[..next.len().min(2)];
            let names_ours = next.iter().any(|w| ours.iter().any(|o| same(w, o)));
            let names_other = options.keys().filter(|k| k.as_str() != option).any(|k| {
                name_words(k)
                    .iter()
                    .any(|o| !ours.contains(o) && next.iter().any(|w| same(w, o)))
            });
            if names_ours || !names_other {
                any_place = true;
            }
        }
    }
    any_place
}

fn same(word: &str, name: &str) -> bool {
    word == name || word.strip_suffix("es") == Some(name) || word.strip_suffix('s') == Some(name)
}

/// The words of a lower-cased text, hyphenated compounds split ("brown-frame" → "brown",
/// "frame").
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a lower-cased message contains `value` standing alone ("polarized" is not in
/// "non-polarized"; "brown" is in "brown-frame").
fn mentions(lower: &str, value: &str) -> bool {
    lower.match_indices(value).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Whether a lower-cased text has `word` standing alone.
fn has_word(lower: &str, word: &str) -> bool {
    lower.match_indices(word).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_core::store::model::StoreSnapshot;
    use std::sync::OnceLock;

    /// The demo store (the tau2-retail store; see fixtures/NOTICE.md).
    fn store() -> &'static StoreSnapshot {
        static STORE: OnceLock<StoreSnapshot> = OnceLock::new();
        STORE.get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/tau2-retail/db.json"
            );
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        })
    }

    /// What the engine would list for `user` saying `text`.
    fn proposed(user: &str, text: &str) -> Option<Proposal> {
        let store = store();
        let reading = Reading::of(text);
        let named = &reading.order_ids;
        let intent = intent(&reading, !named.is_empty())?;
        let order = named.first().map(|id| &store.orders[id.as_str()]);
        let products: Vec<Product> = order
            .map(|o| named_products(&reading, o))
            .unwrap_or_default()
            .iter()
            .map(|id| store.products[id.as_str()].clone())
            .collect();
        propose(&reading, &intent, &store.users[user], order, &products)
    }

    fn call(tool: ToolName, arguments: Value) -> Option<Proposal> {
        Some(Proposal { tool, arguments })
    }

    #[test]
    fn an_address_written_out_is_read_whole() {
        let a = address("Please ship #W1 to: 123 Main St, Apt 4, Austin, TX 78701, USA.").unwrap();
        assert_eq!(
            (a.address1.as_str(), a.address2.as_str(), a.city.as_str()),
            ("123 Main St", "Apt 4", "Austin")
        );
        assert_eq!(
            (a.state.as_str(), a.zip.as_str(), a.country.as_str()),
            ("TX", "78701", "USA")
        );
        let b = address("my new address is 9 Lake View, Madison, WI 53703").unwrap();
        assert_eq!(
            (b.address1.as_str(), b.address2.as_str()),
            ("9 Lake View", "")
        );
        let c = address("send #W1 to 45 Pearl Street, Suite 2, Boulder, CO 80302, USA instead.");
        assert_eq!(
            c.map(|c| (c.address2, c.country)),
            Some(("Suite 2".into(), "USA".into()))
        );
        // Without a state and zip, or with a country the store does not ship to, nothing.
        assert_eq!(address("send it to 9 Lake View, Madison"), None);
        assert_eq!(address("9 Lake View, Toronto, ON 12345, Canada"), None);
        assert_eq!(address("my zip is 53703"), None);
    }

    #[test]
    fn address_changes_of_an_order_and_of_the_account() {
        assert_eq!(
            proposed(
                "raj_sanchez_2970",
                "Please change the shipping address of my pending order #W4566809 to: 123 Main St, Apt 4, Austin, TX 78701, USA."
            ),
            call(
                ToolName::ModifyPendingOrderAddress,
                json!({"order_id": "#W4566809", "address1": "123 Main St", "address2": "Apt 4", "city": "Austin", "state": "TX", "country": "USA", "zip": "78701"})
            )
        );
        assert_eq!(
            proposed(
                "harper_kim_2998",
                "Hello, I'm Harper Kim, zip 78222. I moved: my new default address is 9 Lake View, Unit 3, Madison, WI 53703, USA."
            ),
            call(
                ToolName::ModifyUserAddress,
                json!({"user_id": "harper_kim_2998", "address1": "9 Lake View", "address2": "Unit 3", "city": "Madison", "state": "WI", "country": "USA", "zip": "53703"})
            )
        );
        // An address alone changes nothing, nor does a question about one.
        assert_eq!(
            proposed(
                "harper_kim_2998",
                "Do you ship to 9 Lake View, Madison, WI 53703?"
            ),
            None
        );
        assert_eq!(
            proposed(
                "harper_kim_2998",
                "Is my address still 9 Lake View, Madison, WI 53703?"
            ),
            None
        );
        assert_eq!(
            proposed(
                "raj_sanchez_2970",
                "Was #W4566809 going to 123 Main St, Austin, TX 78701?"
            ),
            None
        );
    }

    #[test]
    fn a_payment_change_takes_the_one_other_method_of_the_kind_named() {
        assert_eq!(
            proposed(
                "mia_moore_8366",
                "I'd like to pay for my pending order #W3130288 with my PayPal account instead of the gift card."
            ),
            call(
                ToolName::ModifyPendingOrderPayment,
                json!({"order_id": "#W3130288", "payment_method_id": "paypal_5181300"})
            )
        );
        assert_eq!(
            proposed(
                "olivia_ito_3591",
                "Please switch the payment of order #W5442520 from my credit card to my PayPal."
            ),
            call(
                ToolName::ModifyPendingOrderPayment,
                json!({"order_id": "#W5442520", "payment_method_id": "paypal_8049766"})
            )
        );
        // Both kinds are other than the one it is paid with: which one is open.
        assert_eq!(
            proposed(
                "mia_moore_8366",
                "Can I pay for #W3130288 with PayPal or a credit card?"
            ),
            None
        );
    }

    #[test]
    fn returns_name_their_items_and_where_the_refund_goes() {
        assert_eq!(
            proposed(
                "yusuf_rossi_9620",
                "I want to return the headphones from order #W2378156, refunded to my original payment method."
            ),
            call(
                ToolName::ReturnDeliveredOrderItems,
                json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "payment_method_id": "credit_card_9513926"})
            )
        );
        assert_eq!(
            proposed(
                "raj_sanchez_2970",
                "Please return the notebook and the jigsaw puzzle from my order #W7736708 and refund it to my gift card."
            ),
            call(
                ToolName::ReturnDeliveredOrderItems,
                json!({"order_id": "#W7736708", "item_ids": ["6574183535", "1096508426"], "payment_method_id": "gift_card_2259499"})
            )
        );
        // No word of where the refund goes: the model asks.
        assert_eq!(
            proposed(
                "raj_sanchez_2970",
                "Please return the notebook from my order #W7736708."
            ),
            None
        );
    }

    #[test]
    fn an_exchange_takes_the_variant_the_words_describe() {
        assert_eq!(
            proposed(
                "amelia_patel_7834",
                "Please exchange the brown-frame sunglasses from order #W6497157 for the black frame version, same brown polarized lenses and plastic frame. Use my gift card for any difference."
            ),
            call(
                ToolName::ExchangeDeliveredOrderItems,
                json!({"order_id": "#W6497157", "item_ids": ["9672174103"], "new_item_ids": ["4358482460"], "payment_method_id": "gift_card_3751659"})
            )
        );
        assert_eq!(
            proposed(
                "yusuf_rossi_9620",
                "I'd like to exchange the blue headphones from order #W2378156 for the same model in black (over-ear, wireless). Any price difference goes to my original credit card."
            ),
            call(
                ToolName::ExchangeDeliveredOrderItems,
                json!({"order_id": "#W2378156", "item_ids": ["4202497723"], "new_item_ids": ["7493556126"], "payment_method_id": "credit_card_9513926"})
            )
        );
        // Two new colours named: which one is open.
        assert_eq!(
            proposed(
                "yusuf_rossi_9620",
                "Exchange the headphones from #W2378156 for black or red ones, to my credit card."
            ),
            None
        );
    }

    #[test]
    fn a_pending_orders_item_is_changed_the_same_way() {
        assert_eq!(
            proposed(
                "olivia_ito_3591",
                "In pending order #W5442520, please change the black gaming mouse to the white wireless one (optical sensor). Use my credit card for the difference."
            ),
            call(
                ToolName::ModifyPendingOrderItems,
                json!({"order_id": "#W5442520", "item_ids": ["3330317167"], "new_item_ids": ["8896479688"], "payment_method_id": "credit_card_9753331"})
            )
        );
        assert_eq!(
            proposed(
                "aarav_anderson_8794",
                "In my pending order #W9300146, please change the desk lamp to medium brightness (still black, USB). Pay the difference with my gift card."
            ),
            call(
                ToolName::ModifyPendingOrderItems,
                json!({"order_id": "#W9300146", "item_ids": ["9190635437"], "new_item_ids": ["6805564527"], "payment_method_id": "gift_card_7245904"})
            )
        );
    }

    #[test]
    fn another_customers_order_is_never_proposed() {
        assert_eq!(
            proposed(
                "yusuf_rossi_9620",
                "Please cancel order #W9300146, I no longer need it."
            ),
            None
        );
        assert_eq!(
            proposed(
                "aarav_anderson_8794",
                "Please cancel order #W9300146, I no longer need it."
            ),
            call(
                ToolName::CancelPendingOrder,
                json!({"order_id": "#W9300146", "reason": "no longer needed"})
            )
        );
    }
}
