//! How the store's records read to a model: an order, a customer account, search results or help
//! passages as
//! a short fact sheet, one labelled line per fact ("status: processed", "tracking number:
//! 235384470799"), rather than the nested JSON the tools answer with. A 1.5B model answers "what's in my order?"
//! from the sheet and loses itself in the JSON; and the sheet is a third shorter (on the demo
//! store's orders, 66 % of the JSON's characters), so fewer prompt tokens, which the CPU reads
//! at about ten a second.
//!
//! Only the model's view changes: the conversation stores the tool's JSON, which staff, the
//! grounding guard and the tau2 replay read. Every fact and id of the record is on the sheet.

use crate::store::model::{Address, Options, Order, PaymentMethod, User};
use std::fmt::Write;

/// The fact sheet of a tool output that is an order, a customer account, search results or help
/// passages;
/// `None` for any other output, which the model reads as it is.
pub fn for_model(output: &str) -> Option<String> {
    let output = output.trim();
    if !output.starts_with('{') {
        return None;
    }
    if let Ok(order) = serde_json::from_str::<Order>(output) {
        return Some(order_sheet(&order));
    }
    if let Ok(user) = serde_json::from_str::<User>(output) {
        return Some(user_sheet(&user));
    }
    let value: serde_json::Value = serde_json::from_str(output).ok()?;
    search_sheet(&value).or_else(|| help_sheet(&value))
}

/// Help passages: each under its article's title (and section), so that the model names it.
fn help_sheet(value: &serde_json::Value) -> Option<String> {
    let passages = value.get("passages")?.as_array()?;
    if passages.is_empty() {
        return Some("no help article answers this".to_owned());
    }
    let mut sheet = String::new();
    for passage in passages {
        let title = passage.get("title")?.as_str()?;
        let text = passage.get("text")?.as_str()?;
        match passage.get("section").and_then(|s| s.as_str()) {
            Some(section) => {
                let _ = writeln!(sheet, "article \"{title}\", section \"{section}\": {text}");
            }
            None => {
                let _ = writeln!(sheet, "article \"{title}\": {text}");
            }
        }
    }
    Some(sheet.trim_end().to_owned())
}

/// Search results: each product with its items, one line an item, and what its options offer
/// in stock.
fn search_sheet(value: &serde_json::Value) -> Option<String> {
    let products = value.get("products")?.as_array()?;
    if value.as_object()?.len() != 1 {
        return None;
    }
    if products.is_empty() {
        return Some("no product matches".to_owned());
    }
    let mut sheet = String::new();
    for product in products {
        let name = product.get("name")?.as_str()?;
        let id = product.get("product_id")?.as_str()?;
        let items = product.get("items")?.as_array()?;
        let matching = product.get("matching_items")?.as_u64()?;
        let _ = writeln!(
            sheet,
            "product {name} (product_id {id}): {matching} items match{}",
            if matching as usize > items.len() {
                format!(", the best {} here", items.len())
            } else {
                String::new()
            }
        );
        for item in items {
            let options: Vec<String> = item
                .get("options")?
                .as_object()?
                .iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
                .collect();
            let available = item.get("available")?.as_bool()?;
            let _ = writeln!(
                sheet,
                "- {name}: {}; ${} ({}, item_id {})",
                options.join(", "),
                crate::money::Cents::from_dollars(item.get("price")?.as_f64()?).ok()?,
                if available {
                    "in stock"
                } else {
                    "out of stock"
                },
                item.get("item_id")?.as_str()?
            );
        }
    }
    Some(sheet.trim_end().to_owned())
}

/// An address on one line, as people write it: "763 Broadway, Suite 135, Philadelphia, PA
/// 19122, USA".
pub fn address_line(address: &Address) -> String {
    let mut parts = vec![address.address1.as_str()];
    if !address.address2.is_empty() {
        parts.push(&address.address2);
    }
    parts.push(&address.city);
    format!(
        "{}, {} {}, {}",
        parts.join(", "),
        address.state,
        address.zip,
        address.country
    )
}

/// An item as people tell it: "Headphones: type over-ear, color blue".
pub fn item_words(name: &str, options: &Options) -> String {
    let options: Vec<String> = options
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    format!("{name}: {}", options.join(", "))
}

/// A payment method as people tell it: "PayPal", "credit card, visa ending 1234", "gift card,
/// balance $62.00".
pub fn method_words(method: &PaymentMethod) -> String {
    match method {
        PaymentMethod::Paypal { .. } => "PayPal".to_owned(),
        PaymentMethod::CreditCard {
            brand, last_four, ..
        } => format!("credit card, {brand} ending {last_four}"),
        PaymentMethod::GiftCard { balance, .. } => format!("gift card, balance ${balance}"),
    }
}

/// A payment method as said in a sentence to its owner: "your PayPal account", "your Visa
/// ending 1234", "your gift card".
pub fn method_phrase(method: &PaymentMethod) -> String {
    match method {
        PaymentMethod::Paypal { .. } => "your PayPal account".to_owned(),
        PaymentMethod::CreditCard {
            brand, last_four, ..
        } => {
            let mut letters = brand.chars();
            let brand: String = letters
                .next()
                .map(|first| first.to_uppercase().chain(letters).collect())
                .unwrap_or_default();
            format!("your {brand} ending {last_four}")
        }
        PaymentMethod::GiftCard { .. } => "your gift card".to_owned(),
    }
}

fn order_sheet(order: &Order) -> String {
    // The customer's user id stays out (the order is the conversation's own shopper's): a
    // model copies "of customer …" into its reply.
    let mut sheet = format!(
        "your shopper's order {}\nstatus: {}\nitems:\n",
        order.order_id,
        order.status.as_str()
    );
    for item in &order.items {
        let _ = writeln!(
            sheet,
            "- {}; ${} (item_id {}, product_id {})",
            item_words(&item.name, &item.options),
            item.price,
            item.item_id,
            item.product_id
        );
    }
    let _ = writeln!(sheet, "shipping address: {}", address_line(&order.address));
    // Item ids as the items' names, in order ("Lamp, Mat").
    let names_of = |ids: &[String]| {
        let names: Vec<String> = ids
            .iter()
            .map(|id| {
                order
                    .items
                    .iter()
                    .find(|item| &item.item_id == id)
                    .map_or_else(|| id.clone(), |item| item.name.clone())
            })
            .collect();
        names.join(", ")
    };
    match order.fulfillments.as_slice() {
        [] => sheet.push_str("tracking number: none yet\n"),
        [one] if one.item_ids.len() == order.items.len() => {
            let _ = writeln!(sheet, "tracking number: {}", one.tracking_id.join(", "));
        }
        shipments => {
            for shipment in shipments {
                let _ = writeln!(
                    sheet,
                    "tracking number: {} (for {})",
                    shipment.tracking_id.join(", "),
                    names_of(&shipment.item_ids)
                );
            }
        }
    }
    let payments: Vec<String> = order
        .payment_history
        .iter()
        .map(|p| {
            let way = match p.transaction_type.as_str() {
                "refund" => "to",
                _ => "with",
            };
            format!(
                "{} ${} {way} {}",
                p.transaction_type.as_str(),
                p.amount,
                p.payment_method_id
            )
        })
        .collect();
    let _ = writeln!(sheet, "payments: {}", payments.join("; "));
    if let Some(reason) = &order.cancel_reason {
        let _ = writeln!(sheet, "cancel reason: {reason}");
    }
    if let Some(items) = &order.return_items {
        let _ = writeln!(
            sheet,
            "return requested for: {} (item_ids {}), refund to {}",
            names_of(items),
            items.join(", "),
            order.return_payment_method_id.as_deref().unwrap_or("?")
        );
    }
    if let (Some(items), Some(new_items)) = (&order.exchange_items, &order.exchange_new_items) {
        let _ = write!(
            sheet,
            "exchange requested for: {} (item_ids {}), new item_ids {}",
            names_of(items),
            items.join(", "),
            new_items.join(", ")
        );
        if let Some(difference) = order.exchange_price_difference {
            let _ = write!(sheet, ", price difference ${difference}");
        }
        if let Some(method) = &order.exchange_payment_method_id {
            let _ = write!(sheet, " settled with {method}");
        }
        sheet.push('\n');
    }
    sheet.trim_end().to_owned()
}

fn user_sheet(user: &User) -> String {
    let methods: Vec<String> = user
        .payment_methods
        .values()
        .map(|method| format!("{} ({})", method.id(), method_words(method)))
        .collect();
    // Worded as the shopper's own account, without the user id (the model has it from the
    // authentication): a model copies "customer …" into its reply.
    format!(
        "your shopper's account: {} {}, {}\ndefault address: {}\npayment methods: {}\norders: {}",
        user.name.first_name,
        user.name.last_name,
        user.email,
        address_line(&user.address),
        methods.join("; "),
        if user.orders.is_empty() {
            "none".to_owned()
        } else {
            user.orders.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::for_model;

    #[test]
    fn an_order_reads_as_a_fact_sheet_with_every_fact_and_id() {
        let order = r##"{"order_id":"#W5866402","user_id":"olivia_ito_3591","address":{"address1":"570 Elm Avenue","address2":"Suite 175","city":"Denver","country":"USA","state":"CO","zip":"80218"},"items":[{"name":"Espresso Machine","product_id":"4354588079","item_id":"6242772310","price":2996.03,"options":{"pressure":"19 bar","capacity":"1L"}},{"name":"Sneakers","product_id":"7471004230","item_id":"9727387530","price":207.75,"options":{"size":"11","color":"black"}}],"status":"delivered","fulfillments":[{"tracking_id":["203283266934"],"item_ids":["6242772310","9727387530"]}],"payment_history":[{"transaction_type":"payment","amount":3203.78,"payment_method_id":"paypal_8049766"}],"cancel_reason":null,"return_items":null}"##;
        assert_eq!(
            for_model(order).unwrap(),
            "your shopper's order #W5866402\n\
             status: delivered\n\
             items:\n\
             - Espresso Machine: pressure 19 bar, capacity 1L; $2996.03 (item_id 6242772310, product_id 4354588079)\n\
             - Sneakers: size 11, color black; $207.75 (item_id 9727387530, product_id 7471004230)\n\
             shipping address: 570 Elm Avenue, Suite 175, Denver, CO 80218, USA\n\
             tracking number: 203283266934\n\
             payments: payment $3203.78 with paypal_8049766"
        );
        // Shorter than the JSON the model read before (nulls already left out).
        assert!(4 * for_model(order).unwrap().len() < 3 * order.len());
    }

    #[test]
    fn requests_and_split_shipments_are_on_the_sheet() {
        let order = r##"{"order_id":"#W1","user_id":"u","address":{"address1":"1 A St","address2":"","city":"B","country":"USA","state":"CA","zip":"90000"},"items":[{"name":"Lamp","product_id":"1","item_id":"11","price":10.0,"options":{}},{"name":"Mat","product_id":"2","item_id":"22","price":5.5,"options":{"color":"green"}}],"status":"return requested","fulfillments":[{"tracking_id":["111"],"item_ids":["11"]},{"tracking_id":["222"],"item_ids":["22"]}],"payment_history":[{"transaction_type":"payment","amount":15.5,"payment_method_id":"gift_card_1"}],"return_items":["22"],"return_payment_method_id":"gift_card_1"}"##;
        let sheet = for_model(order).unwrap();
        assert!(
            sheet.contains("shipping address: 1 A St, B, CA 90000, USA"),
            "{sheet}"
        );
        assert!(
            sheet.contains("tracking number: 111 (for Lamp)\ntracking number: 222 (for Mat)"),
            "{sheet}"
        );
        assert!(
            sheet.contains("return requested for: Mat (item_ids 22), refund to gift_card_1"),
            "{sheet}"
        );
    }

    #[test]
    fn an_account_lists_its_payment_methods_and_orders() {
        let user = r##"{"user_id":"emma_smith_8564","name":{"first_name":"Emma","last_name":"Smith"},"address":{"address1":"243 Hillcrest Drive","address2":"Suite 113","city":"New York","country":"USA","state":"NY","zip":"10192"},"email":"emma.smith3991@example.com","payment_methods":{"gift_card_8541487":{"source":"gift_card","id":"gift_card_8541487","balance":62.0},"credit_card_1":{"source":"credit_card","id":"credit_card_1","brand":"visa","last_four":"1234"},"paypal_6228291":{"source":"paypal","id":"paypal_6228291"}},"orders":["#W2417020","#W5605613"]}"##;
        assert_eq!(
            for_model(user).unwrap(),
            "your shopper's account: Emma Smith, emma.smith3991@example.com\n\
             default address: 243 Hillcrest Drive, Suite 113, New York, NY 10192, USA\n\
             payment methods: gift_card_8541487 (gift card, balance $62.00); credit_card_1 (credit card, visa ending 1234); paypal_6228291 (PayPal)\n\
             orders: #W2417020, #W5605613"
        );
    }

    #[test]
    fn help_passages_read_under_their_articles_title() {
        let output = serde_json::json!({"passages": [
            {"title": "Gift cards", "path": "gift-cards.md", "text": "A gift card has a balance."},
            {"title": "Gift cards", "path": "gift-cards.md", "section": "Refunds", "text": "At once."},
        ]});
        assert_eq!(
            for_model(&output.to_string()).unwrap(),
            "article \"Gift cards\": A gift card has a balance.\narticle \"Gift cards\", section \"Refunds\": At once."
        );
        let none = serde_json::json!({"passages": [], "note": "no help article answers this"});
        assert_eq!(
            for_model(&none.to_string()).unwrap(),
            "no help article answers this"
        );
    }

    #[test]
    fn search_results_list_each_item_with_its_stock() {
        let results = r#"{"products":[{"product_id":"6992792935","name":"Headphones","matching_items":13,"items":[{"item_id":"7493556126","options":{"type":"over-ear","color":"black"},"price":346.97,"available":true},{"item_id":"9314474252","options":{"type":"in-ear","color":"blue"},"price":330.08,"available":false}]}]}"#;
        assert_eq!(
            for_model(results).unwrap(),
            "product Headphones (product_id 6992792935): 13 items match, the best 2 here\n\
             - Headphones: type over-ear, color black; $346.97 (in stock, item_id 7493556126)\n\
             - Headphones: type in-ear, color blue; $330.08 (out of stock, item_id 9314474252)"
        );
        assert_eq!(
            for_model(r#"{"products":[]}"#).unwrap(),
            "no product matches"
        );
    }

    #[test]
    fn other_outputs_are_left_as_they_are() {
        assert_eq!(for_model("yusuf_rossi_9620"), None);
        assert_eq!(for_model(r#"{"results": []}"#), None);
        assert_eq!(for_model("Error: no such order"), None);
    }
}
