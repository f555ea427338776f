//! What the shopper reads of the model's words: said to them rather than about them, without the
//! store's internal keys (user ids, item and product ids, payment method ids), with the
//! products the shopper misspelt spelt as the catalog spells them, and claiming no
//! state the conversation's records do not hold (verified, cancelled, refunded, returned,
//! exchanged, changed, transferred). The rewrites are deterministic; a claim the records do not
//! hold is held back by the model's loop ([`super::model_loop`]).

use clerk_core::llm::Role;
use clerk_core::store::MessageRecord;

/// A shopper's reply said to them rather than about them, when it was not: "the customer" made
/// "you" ("the customer's order" → "your order", "the customer has" → "you have"), their user
/// id replaced by "your account" or dropped ("order #W… of customer …"), an item's and product's
/// ids dropped ("(item_id 9168994198, product_id 3377618313)"), and a payment method's id told in
/// words (`methods`: each id of the account's with how people say it, "your Visa ending
/// 1234"). `None` when the reply already speaks to them plainly.
pub(super) fn spoken(
    reply: &str,
    user: Option<&str>,
    methods: &[(String, String)],
) -> Option<String> {
    let mut text = reply.to_owned();
    if let Some(user) = user.filter(|user| text.contains(user)) {
        for (from, to) in [
            (format!(" of customer {user}"), ""),
            (format!(" for customer {user}"), ""),
            (format!(" ({user})"), ""),
            (format!("customer {user}"), "your account"),
            (format!("user id {user}"), "your account"),
            (format!("user ID {user}"), "your account"),
            (user.to_owned(), "your account"),
        ] {
            text = text.replace(&from, to);
        }
    }
    for (from, to) in [
        ("The customer's", "Your"),
        ("the customer's", "your"),
        ("The customer has", "You have"),
        ("the customer has", "you have"),
        ("The customer is", "You are"),
        ("the customer is", "you are"),
        ("The customer was", "You were"),
        ("the customer was", "you were"),
        ("The customer", "You"),
        ("the customer", "you"),
    ] {
        text = text.replace(from, to);
    }
    text = without_item_ids(&text);
    text = methods_in_words(&text, methods);
    (text != reply).then_some(text)
}

/// `reply` with each product word the shopper misspelt, and the reply echoed, spelt as the
/// catalog spells it (`spellings`: [`super::assist::misspelt_products`] of their message):
/// "Yes, we sell hedphones" → "Yes, we sell headphones". Whole words only; a capital first
/// letter is kept.
pub(super) fn catalog_spelling(reply: &str, spellings: &[(String, String)]) -> String {
    if spellings.is_empty() {
        return reply.to_owned();
    }
    let mut out = String::with_capacity(reply.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let lower = word.to_lowercase();
        match spellings.iter().find(|(typo, _)| *typo == lower) {
            Some((_, spelt)) if word.starts_with(char::is_uppercase) => {
                let mut letters = spelt.chars();
                out.extend(letters.next().into_iter().flat_map(char::to_uppercase));
                out.extend(letters);
            }
            Some((_, spelt)) => out.push_str(spelt),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in reply.chars() {
        if c.is_alphanumeric() || c == '-' || c == '\'' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The words of a label that names an item's or a product's id.
const ID_LABELS: [&str; 6] = [
    "item_id",
    "product_id",
    "item id",
    "product id",
    "item_ids",
    "new_item_ids",
];

/// `text` without the ids of items and products: a bracketed aside that names one is dropped
/// whole ("$466.76 (item_id 9168994198, product_id 3377618313)" → "$466.76"), and a label with
/// its number elsewhere ("item ID: 4202497723") too.
fn without_item_ids(text: &str) -> String {
    let labelled = |part: &str| {
        let lower = part.to_lowercase();
        ID_LABELS.iter().any(|label| lower.contains(label))
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|at| open + at) else {
            break;
        };
        if labelled(&rest[open..=close]) {
            out.push_str(rest[..open].trim_end_matches(' '));
        } else {
            out.push_str(&rest[..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    // A label left standing, with its number: "item ID: 4202497723", "product_id 3377618313".
    let mut words: Vec<&str> = Vec::new();
    let tokens: Vec<&str> = out.split(' ').collect();
    let mut removed = false;
    let mut i = 0;
    while i < tokens.len() {
        let pair = tokens
            .get(i + 1)
            .map(|next| format!("{} {next}", tokens[i]));
        let label_len = if ID_LABELS.contains(&tokens[i].to_lowercase().trim_end_matches(':')) {
            1
        } else if pair
            .is_some_and(|pair| ID_LABELS.contains(&pair.to_lowercase().trim_end_matches(':')))
        {
            2
        } else {
            0
        };
        let number = tokens.get(i + label_len).is_some_and(|t| {
            let digits = t.trim_end_matches([',', '.', ';', ':']);
            digits.len() >= 6 && digits.chars().all(|c| c.is_ascii_digit())
        });
        if label_len > 0 && number {
            // Keep the punctuation that ended the number ("…, item id 123, in black").
            let last = tokens[i + label_len];
            let tail = &last[last.trim_end_matches([',', '.', ';', ':']).len()..];
            if !tail.is_empty()
                && let Some(previous) = words.pop()
            {
                words.push(previous.trim_end_matches([',', ':']));
                words.push(tail);
            }
            i += label_len + 1;
            removed = true;
            continue;
        }
        words.push(tokens[i]);
        i += 1;
    }
    if !removed {
        return out;
    }
    let mut joined = words.join(" ");
    for (from, to) in [(" ,", ","), (" .", "."), (" ;", ";"), ("  ", " ")] {
        joined = joined.replace(from, to);
    }
    joined
}

/// `text` with each payment method id told in words: one in brackets after words that already
/// name it is dropped ("PayPal (paypal_5181300)" → "PayPal"); one standing alone becomes its
/// words from `methods`, or its kind ("your credit card") when it is not the account's.
fn methods_in_words(text: &str, methods: &[(String, String)]) -> String {
    const KINDS: [(&str, &str); 3] = [
        ("credit_card_", "your credit card"),
        ("gift_card_", "your gift card"),
        ("paypal_", "your PayPal account"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = KINDS
            .iter()
            .filter_map(|(prefix, kind)| rest.find(prefix).map(|at| (at, *prefix, *kind)))
            .min_by_key(|(at, ..)| *at);
        let Some((at, prefix, kind)) = next else {
            break;
        };
        let digits = rest[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        let end = at + prefix.len() + digits;
        if digits == 0 {
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let id = &rest[at..end];
        let bracketed = rest[..at].ends_with('(') && rest[end..].starts_with(')');
        if bracketed {
            out.push_str(rest[..at - 1].trim_end_matches(' '));
            rest = &rest[end + 1..];
            continue;
        }
        out.push_str(&rest[..at]);
        let words = methods
            .iter()
            .find(|(known, _)| known == id)
            .map_or(kind, |(_, words)| words.as_str());
        out.push_str(words);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A state a reply may claim: what the shopper is told has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The shopper's identity was confirmed.
    Verified,
    /// An order was cancelled.
    Cancelled,
    /// Money was refunded.
    Refunded,
    /// A return was requested or done.
    Returned,
    /// An exchange was requested or done.
    Exchanged,
    /// An order or the account was changed (items, address, payment).
    Changed,
    /// The conversation was passed to a person.
    Transferred,
}

impl Claim {
    /// Every claim, in the order they are looked for.
    const ALL: [Claim; 7] = [
        Claim::Verified,
        Claim::Cancelled,
        Claim::Refunded,
        Claim::Returned,
        Claim::Exchanged,
        Claim::Changed,
        Claim::Transferred,
    ];

    /// The words that make the claim (lowercase), as the model writes them.
    fn phrases(self) -> &'static [&'static str] {
        match self {
            Claim::Verified => &[
                "authenticated as",
                "been authenticated",
                "are now authenticated",
                "been verified",
                "are verified",
                "you're verified",
                "verified your identity",
                "confirming your identity",
                "identity is confirmed",
                "identity has been confirmed",
                "confirmed your identity",
            ],
            Claim::Cancelled => &[
                "has been cancelled",
                "has been canceled",
                "have cancelled",
                "have canceled",
                "i've cancelled",
                "i've canceled",
                "was cancelled",
                "was canceled",
                "is now cancelled",
                "is now canceled",
                "successfully cancelled",
                "successfully canceled",
            ],
            Claim::Refunded => &[
                "has been refunded",
                "have been refunded",
                "have refunded",
                "i've refunded",
                "was refunded",
                "and refunded",
                "refund has been issued",
                "refund has been processed",
                "refund has been made",
            ],
            Claim::Returned => &[
                "return has been",
                "return is being processed",
                "been returned",
                "initiated the return",
                "initiated a return",
                "processed your return",
                "return request has been",
                "return is requested",
            ],
            Claim::Exchanged => &[
                "exchange has been",
                "exchange is being processed",
                "been exchanged",
                "initiated the exchange",
                "initiated an exchange",
                "processed your exchange",
                "exchange request has been",
                "exchange is requested",
            ],
            Claim::Changed => &[
                "has been updated",
                "have been updated",
                "have updated",
                "i've updated",
                "has been changed",
                "have been changed",
                "i've changed",
                "has been modified",
                "have been modified",
                "i've modified",
                "is now paid with",
            ],
            Claim::Transferred => &[
                "transferred you",
                "been transferred",
                "are being transferred",
                "i'm transferring you",
                "i am transferring you",
                "i've passed",
                "i have passed",
                "connected you with",
                "a human agent will",
                "a member of our team will",
            ],
        }
    }

    /// What the claim says, for the note to the model.
    fn what(self) -> &'static str {
        match self {
            Claim::Verified => "the shopper is verified or authenticated",
            Claim::Cancelled => "an order was cancelled",
            Claim::Refunded => "money was refunded",
            Claim::Returned => "a return was made or requested",
            Claim::Exchanged => "an exchange was made or requested",
            Claim::Changed => "an order or the account was changed",
            Claim::Transferred => "the conversation was passed to a person",
        }
    }

    /// What in this conversation's records would hold the claim.
    fn held_by(self, records: &Records) -> bool {
        let shown = |status: &str| records.outputs.iter().any(|output| output.contains(status));
        match self {
            Claim::Verified => records.authenticated,
            Claim::Cancelled => shown("cancelled"),
            Claim::Refunded => shown("refund"),
            Claim::Returned => shown("return requested") || shown("returned"),
            Claim::Exchanged => shown("exchange requested") || shown("exchanged"),
            Claim::Changed => records.ran.iter().any(|name| name.starts_with("modify_")),
            Claim::Transferred => records.staff || shown("transfer successful"),
        }
    }
}

/// What a conversation's records hold, for judging a reply's claims.
#[derive(Debug, Default)]
pub(super) struct Records {
    /// Whether a tool (or the store's own sign-in) authenticated the shopper.
    pub authenticated: bool,
    /// The tools that answered without an error.
    pub ran: Vec<String>,
    /// What they answered, lowercase.
    pub outputs: Vec<String>,
    /// Whether staff took part in the conversation.
    pub staff: bool,
}

impl Records {
    /// Reads the records of `messages` (a conversation's, in order); `authenticated`: whether
    /// the conversation is signed in to an account.
    pub fn of(messages: &[MessageRecord], authenticated: bool) -> Records {
        let mut records = Records {
            authenticated,
            ..Records::default()
        };
        let mut called: Option<String> = None;
        for message in messages {
            match message.role {
                Role::Assistant => {
                    called = message
                        .tool_call
                        .as_deref()
                        .and_then(clerk_core::llm::ToolCall::from_stored)
                        .map(|call| call.name);
                }
                Role::Tool if !message.content.starts_with("Error") => {
                    records.ran.extend(called.take());
                    records.outputs.push(message.content.to_lowercase());
                }
                Role::Staff => records.staff = true,
                _ => {}
            }
        }
        records
    }
}

/// The first claim of `reply` that `records` do not hold.
pub(super) fn unheld_claim(reply: &str, records: &Records) -> Option<Claim> {
    let lower = reply.to_lowercase().replace('’', "'");
    Claim::ALL.into_iter().find(|claim| {
        claim.phrases().iter().any(|phrase| lower.contains(phrase)) && !claim.held_by(records)
    })
}

/// The note that tells the model why its reply claiming `claim` was not sent.
pub(super) fn claim_note(claim: Claim) -> String {
    let next = match claim {
        Claim::Verified => {
            "Ask them for the email address on their account, or their name and zip code, and look it up."
        }
        Claim::Transferred => {
            "If the request is one you cannot handle, call transfer_to_human_agents; otherwise answer it."
        }
        _ => {
            "To do it, call the tool (the shopper is asked to confirm before it runs); otherwise answer without saying it was done."
        }
    };
    format!(
        "Your last reply was not sent: it says {}, but nothing in this conversation's records shows that. {next}",
        claim.what()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods() -> Vec<(String, String)> {
        vec![
            (
                "credit_card_2641784".to_owned(),
                "your Mastercard ending 2130".to_owned(),
            ),
            (
                "paypal_5181300".to_owned(),
                "your PayPal account".to_owned(),
            ),
        ]
    }

    #[test]
    fn a_reply_about_the_customer_is_said_to_them() {
        assert_eq!(
            spoken(
                "The customer's order #W1 of customer yusuf_rossi_9620 is delivered.",
                Some("yusuf_rossi_9620"),
                &[]
            )
            .as_deref(),
            Some("Your order #W1 is delivered.")
        );
        assert_eq!(spoken("Your order #W1 is delivered.", None, &[]), None);
    }

    #[test]
    fn item_and_product_ids_are_left_out() {
        let listed = "The items in your order #W2079779 are:\n\
                      - Action Camera: resolution 1080p; $466.76 (item_id 9168994198, product_id 3377618313)\n\
                      - Sunglasses: frame color black; $290.94 (item ID: 4358482460)";
        assert_eq!(
            spoken(listed, None, &[]).as_deref(),
            Some(
                "The items in your order #W2079779 are:\n\
                 - Action Camera: resolution 1080p; $466.76\n\
                 - Sunglasses: frame color black; $290.94"
            )
        );
        assert_eq!(
            spoken("The blue one, item ID 4202497723, is in stock.", None, &[]).as_deref(),
            Some("The blue one, is in stock.")
        );
        // A bracket that names no id, and a tracking number, stay.
        let plain = "Tracking number 701231196244 (by UPS).";
        assert_eq!(spoken(plain, None, &[]), None);
    }

    #[test]
    fn payment_method_ids_are_told_in_words() {
        assert_eq!(
            spoken(
                "The payment was made with credit_card_2641784 and refunded to the same card.",
                None,
                &methods()
            )
            .as_deref(),
            Some(
                "The payment was made with your Mastercard ending 2130 and refunded to the same card."
            )
        );
        assert_eq!(
            spoken("You paid with PayPal (paypal_5181300).", None, &methods()).as_deref(),
            Some("You paid with PayPal.")
        );
        assert_eq!(
            spoken("Refunded to gift_card_1.", None, &methods()).as_deref(),
            Some("Refunded to your gift card.")
        );
    }

    #[test]
    fn a_misspelt_product_is_spelt_as_the_catalog_spells_it() {
        let names = [
            "Headphones".to_owned(),
            "Wireless Earbuds".to_owned(),
            "Light Bulb".to_owned(),
            "Table".to_owned(),
            "Cable".to_owned(),
        ];
        let spellings = super::super::assist::misspelt_products(
            "Do you sell hedphones? Or erbuds, or a light bulb, or cables? Right.",
            &names,
        );
        assert_eq!(
            spellings,
            [
                ("hedphones".to_owned(), "headphones".to_owned()),
                ("erbuds".to_owned(), "earbuds".to_owned())
            ]
        );
        assert_eq!(
            catalog_spelling(
                "Yes, we sell hedphones. Hedphones come in blue.",
                &spellings
            ),
            "Yes, we sell headphones. Headphones come in blue."
        );
        // Words spelt right stay as they are.
        assert_eq!(
            catalog_spelling("Right, the headphones.", &spellings),
            "Right, the headphones."
        );
    }

    fn records(outputs: &[&str], ran: &[&str]) -> Records {
        Records {
            authenticated: true,
            ran: ran.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_lowercase()).collect(),
            staff: false,
        }
    }

    #[test]
    fn a_claim_stands_only_on_the_records() {
        let none = records(&[], &[]);
        let cancelled = records(&[r#"{"status":"cancelled"}"#], &["get_order_details"]);
        let said = "Your order #W1 has been cancelled.";
        assert_eq!(unheld_claim(said, &none), Some(Claim::Cancelled));
        assert_eq!(unheld_claim(said, &cancelled), None);
        assert_eq!(
            unheld_claim("I've transferred you to a human agent.", &none),
            Some(Claim::Transferred)
        );
        assert_eq!(
            unheld_claim("Your address has been updated.", &none),
            Some(Claim::Changed)
        );
        let changed = records(&[], &["modify_user_address"]);
        assert_eq!(
            unheld_claim("Your address has been updated.", &changed),
            None
        );
        let unverified = Records::default();
        assert_eq!(
            unheld_claim("Thank you for confirming your identity.", &unverified),
            Some(Claim::Verified)
        );
        // Saying what can be done claims nothing.
        let offer = "A pending order can be cancelled. I can transfer you to a person if you like.";
        assert_eq!(unheld_claim(offer, &none), None);
    }
}
