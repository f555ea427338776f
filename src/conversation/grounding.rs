//! The grounding guard: the facts a reply states — order ids, item and product ids, tracking ids,
//! amounts of money, order statuses, product colours — must each appear in a tool output or in
//! the shopper's own messages of this conversation. A reply that invents one is not sent as it is.

use std::collections::HashSet;

/// The words a reply may state only as a record does: the statuses an order can have, and the
/// colours products come in (a small model readily invents "it also comes in white").
const WORDS: [&str; 25] = [
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "return requested",
    "exchange requested",
    "black",
    "white",
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "purple",
    "pink",
    "brown",
    "gray",
    "grey",
    "silver",
    "gold",
    "beige",
    "navy",
    "ivory",
    "teal",
    "maroon",
];

/// The facts found in a text, normalised.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Order ids (`#W1234567`), digit ids of six digits or more, and amounts in cents (`c4666`).
    pub tokens: HashSet<String>,
    /// Order statuses and product colours mentioned.
    pub words: HashSet<&'static str>,
}

/// Extracts the facts of `text`.
pub fn facts(text: &str) -> Facts {
    let mut facts = Facts::default();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '#' && chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            let start = i;
            i += 2;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i > start + 2 {
                facts
                    .tokens
                    .insert(chars[start..i].iter().collect::<String>().to_uppercase());
            }
            continue;
        }
        if c.is_ascii_digit() {
            // A number: digits with thousands separators, then maybe a decimal part.
            let start = i;
            let mut digits = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == ',' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                if chars[i] != ',' {
                    digits.push(chars[i]);
                }
                i += 1;
            }
            let preceded_by_word = start > 0 && chars[start - 1].is_alphanumeric();
            if i < chars.len()
                && chars[i] == '.'
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            {
                i += 1;
                let mut decimals = String::new();
                while i < chars.len() && chars[i].is_ascii_digit() {
                    decimals.push(chars[i]);
                    i += 1;
                }
                if let Some(cents) = cents(&digits, &decimals) {
                    facts.tokens.insert(format!("c{cents}"));
                }
            } else if digits.len() >= 6 && !preceded_by_word {
                facts.tokens.insert(digits);
            } else if start > 0
                && chars[start - 1] == '$'
                && let Some(cents) = cents(&digits, "")
            {
                facts.tokens.insert(format!("c{cents}"));
            }
            continue;
        }
        i += 1;
    }
    let lower = text.to_lowercase();
    for word in WORDS {
        if contains_word(&lower, word) {
            facts.words.insert(word);
        }
    }
    facts
}

fn cents(whole: &str, decimals: &str) -> Option<i64> {
    let whole: i64 = whole.parse().ok()?;
    let fraction = match decimals.len() {
        0 => 0,
        1 => decimals.parse::<i64>().ok()? * 10,
        _ => decimals[..2].parse::<i64>().ok()?,
    };
    // Decimals beyond the cent are not money (and not rounded into some).
    if decimals.len() > 2 && decimals[2..].chars().any(|c| c != '0') {
        return None;
    }
    whole.checked_mul(100)?.checked_add(fraction)
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The facts of `reply` that none of `sources` contains; empty when the reply is grounded.
pub fn ungrounded<'a>(reply: &str, sources: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    Known::from_sources(sources).missing(reply)
}

/// The facts a conversation's sources hold, gathered once.
#[derive(Debug, Default)]
pub struct Known(Facts);

impl Known {
    /// Gathers the facts of `sources` (tool outputs and the shopper's messages).
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = &'a str>) -> Known {
        let mut known = Facts::default();
        for source in sources {
            let found = facts(source);
            known.tokens.extend(found.tokens);
            known.words.extend(found.words);
        }
        Known(known)
    }

    /// The facts of `reply` that are not known, sorted; empty when the reply is grounded.
    pub fn missing(&self, reply: &str) -> Vec<String> {
        let stated = facts(reply);
        let mut missing: Vec<String> = stated
            .tokens
            .difference(&self.0.tokens)
            .map(|t| match t.strip_prefix('c') {
                Some(cents) if cents.chars().all(|c| c.is_ascii_digit()) => {
                    let cents: i64 = cents.parse().unwrap_or(0);
                    format!("{}.{:02}", cents / 100, cents % 100)
                }
                _ => t.clone(),
            })
            .chain(
                stated
                    .words
                    .difference(&self.0.words)
                    .map(|s| (*s).to_owned()),
            )
            .collect();
        missing.sort();
        missing
    }
}

/// Releases a reply to the shopper while the model generates it: whole words only, and only as
/// long as everything released so far states no fact the sources lack. Once a fact fails, nothing
/// more is released; the engine then retracts what was shown and regenerates. What the shopper
/// saw was therefore always grounded.
#[derive(Debug)]
pub struct Release {
    known: Known,
    text: String,
    released: usize,
    stopped: bool,
}

impl Release {
    /// A release checked against `known`.
    pub fn new(known: Known) -> Release {
        Release {
            known,
            text: String::new(),
            released: 0,
            stopped: false,
        }
    }

    /// Takes more of the reply; returns the text that may now be shown, if any.
    pub fn push(&mut self, piece: &str) -> Option<&str> {
        self.text.push_str(piece);
        if self.stopped {
            return None;
        }
        let end = self.text.rfind(char::is_whitespace)?;
        if end <= self.released {
            return None;
        }
        if !self.known.missing(&self.text[..end]).is_empty() {
            self.stopped = true;
            return None;
        }
        let start = std::mem::replace(&mut self.released, end);
        Some(&self.text[start..end])
    }

    /// The text released so far.
    pub fn released(&self) -> &str {
        &self.text[..self.released]
    }

    /// The facts it checks against.
    pub fn known(&self) -> &Known {
        &self.known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_amounts_and_statuses() {
        let found = facts(
            "Order #W2378156 (item 1151293680) was delivered; refund $1,234.50 or 46.66, tracking 843053632392.",
        );
        let mut tokens: Vec<_> = found.tokens.into_iter().collect();
        tokens.sort();
        assert_eq!(
            tokens,
            [
                "#W2378156",
                "1151293680",
                "843053632392",
                "c123450",
                "c4666"
            ]
        );
        assert_eq!(found.words, ["delivered"].into_iter().collect());
        assert!(
            facts("It arrives in 5 to 7 business days, size 10.")
                .tokens
                .is_empty()
        );
    }

    #[test]
    fn a_fact_must_come_from_a_source() {
        let tool =
            r##"{"order_id": "#W2378156", "status": "pending", "items": [{"price": 46.66}]}"##;
        assert!(
            ungrounded(
                "Your order #W2378156 is pending; the item cost $46.66.",
                [tool]
            )
            .is_empty()
        );
        assert_eq!(
            ungrounded("Your order #W9999999 is delivered and cost 12.00.", [tool]),
            ["#W9999999", "12.00", "delivered"]
        );
        // The shopper's own words are a source too.
        assert!(ungrounded("You mentioned order #W1111111.", ["it's #W1111111"]).is_empty());
        // Amounts are compared as money: 46.6 in JSON is $46.60.
        assert!(ungrounded("That is $46.60.", [r#"{"price": 46.6}"#]).is_empty());
        // Colours only as the catalog (or the shopper) says them.
        let product = r#"{"name": "Wireless Headphones", "variants": {"1": {"options": {"color": "black"}}, "2": {"options": {"color": "blue"}}}}"#;
        assert!(ungrounded("They come in black and blue.", [product]).is_empty());
        assert_eq!(
            ungrounded("They come in black, white and red.", [product]),
            ["red", "white"]
        );
        assert!(ungrounded("Blackberry and whiteboards are words, not colours.", [""]).is_empty());
    }

    #[test]
    fn a_streamed_reply_is_released_only_while_grounded() {
        let known = Known::from_sources([r##"{"order_id": "#W2378156", "status": "pending"}"##]);
        let mut release = Release::new(known);
        let mut shown = String::new();
        for piece in [
            "Your ord",
            "er #W2378",
            "156 is pend",
            "ing, and ",
            "cost $12",
            ".00 in ",
            "total.",
        ] {
            if let Some(text) = release.push(piece) {
                shown.push_str(text);
            }
        }
        // Released up to the last whole word before the invented amount, never the amount.
        assert_eq!(shown, "Your order #W2378156 is pending, and cost");
        assert_eq!(release.released(), shown);
        assert_eq!(release.known().missing("$12.00"), ["12.00"]);
    }
}
