//! The grounding guard: the facts a reply states — order ids, item and product ids, tracking ids,
//! amounts of money (`$45`, `45.00`, `45 dollars`), order statuses and the words people use for
//! them ("shipped"), product colours — must each appear in a tool output or in the shopper's own
//! messages of this conversation; and a sentence that gives one order a status must give it the
//! status that order's latest record has. What it says of the store's products must be
//! supported too ([`CatalogWords`]): an option value only as a source states it, a product type
//! only once a tool's output named it. In a merchant's conversation every figure counts
//! ([`Known::with_figures`]): a count or a percentage no tool gave is held like an amount. A
//! reply that invents one is not sent as it is.

use std::collections::{HashMap, HashSet};

/// The store's order statuses (the first words of [`WORDS`]).
const STATUSES: usize = 6;

/// Words people use for a status, and the statuses that ground them.
const STATUS_WORDS: [(&str, &[&str]); 3] = [
    ("shipped", &["processed", "delivered"]),
    ("in transit", &["processed"]),
    ("on its way", &["processed"]),
];

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
    /// Order statuses (and words for them) and product colours mentioned.
    pub words: HashSet<&'static str>,
}

/// Whether `word` names an order's status (or is a word people use for one).
fn is_status(word: &str) -> bool {
    WORDS[..STATUSES].contains(&word) || STATUS_WORDS.iter().any(|(w, _)| *w == word)
}

/// Whether an order whose status is `status` may be said to be `word`.
fn status_fits(word: &str, status: &str) -> bool {
    word == status
        || STATUS_WORDS
            .iter()
            .any(|(w, statuses)| *w == word && statuses.contains(&status))
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
            } else if (start > 0 && chars[start - 1] == '$' || names_dollars(&chars[i..]))
                && let Some(cents) = cents(&digits, "")
            {
                facts.tokens.insert(format!("c{cents}"));
            }
            continue;
        }
        i += 1;
    }
    let lower = text.to_lowercase();
    for word in WORDS.into_iter().chain(STATUS_WORDS.map(|(w, _)| w)) {
        if contains_word(&lower, word) {
            facts.words.insert(word);
        }
    }
    facts
}

/// The sentences of a reply (a status word is read within its sentence).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['.', '!', '?', '\n', ';'])
}

/// Whether `word` is denied where it stands in `sentence` (lower case): "not delivered", "hasn't
/// shipped", "not yet been processed", "yet to be shipped" say what the order is not.
fn negated(sentence: &str, word: &str) -> bool {
    sentence.match_indices(word).any(|(at, _)| {
        let before: Vec<&str> = sentence[..at].split_whitespace().rev().take(3).collect();
        before.iter().any(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’');
            matches!(w, "not" | "no" | "never" | "yet") || w.ends_with("n't") || w.ends_with("n’t")
        })
    })
}

/// Whether the text right after a number names dollars (`45 dollars`, `45 USD`).
fn names_dollars(after: &[char]) -> bool {
    let next: String = after.iter().take(9).collect::<String>().to_lowercase();
    let next = next.trim_start();
    ["dollars", "dollar", "usd"].iter().any(|unit| {
        next.strip_prefix(unit)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    })
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

/// Option values too common in a shop's talk to be read as a product's option.
const COMMON_VALUES: [&str; 22] = [
    "standard",
    "small",
    "medium",
    "large",
    "light",
    "fixed",
    "plain",
    "basic",
    "custom",
    "fresh",
    "adjustable",
    "women",
    "expert",
    "beginner",
    "professional",
    "electric",
    "camera",
    "laptop",
    "graphic",
    "design",
    "animals",
    "fantasy",
];

/// Catalogs with more product types than this are too large for the product-type check (their
/// "names" are codes, as in a supermarket's history).
const MAX_PRODUCT_TYPES: usize = 500;

/// Catalogs with more distinctive option values than this are too large for the option check
/// (each released word of a reply is checked against every value).
const MAX_OPTION_VALUES: usize = 2000;

/// What a catalog says of its products, in the words a reply would use (lower case): the names of
/// its product types, and its distinctive option values ("clicky", "16gb", "leather"; colours are
/// checked as [`WORDS`]). A reply may state an option value only as a tool's output or the
/// shopper does, and may describe a product type only once a tool's output of the conversation
/// named it (a search, a product's or an order's details): a small model readily describes a
/// catalog it never looked at.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatalogWords {
    products: Vec<String>,
    options: Vec<String>,
}

impl CatalogWords {
    /// The words of a catalog with these product type names and option values.
    pub fn new(
        products: impl IntoIterator<Item = String>,
        option_values: impl IntoIterator<Item = String>,
    ) -> CatalogWords {
        let mut products: Vec<String> = products
            .into_iter()
            .map(|name| name.trim().to_lowercase())
            .filter(|name| {
                !name.is_empty()
                    && name.split_whitespace().count() <= 3
                    && name
                        .chars()
                        .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
            })
            .collect();
        products.sort();
        products.dedup();
        if products.len() > MAX_PRODUCT_TYPES {
            products.clear();
        }
        let mut options: Vec<String> = option_values
            .into_iter()
            .map(|value| value.trim().to_lowercase())
            .filter(|value| {
                let letters = value.chars().filter(|c| c.is_alphabetic()).count();
                let digits = value.chars().any(|c| c.is_ascii_digit());
                // A quantity with its unit ("16gb", "10 inches"), or a word of five letters or
                // more that is not common talk; never a bare number (amounts and ids are checked
                // as such) nor a colour (checked as one).
                ((digits && letters >= 1) || (!digits && letters >= 5))
                    && !COMMON_VALUES.contains(&value.as_str())
                    && !WORDS.contains(&value.as_str())
            })
            .collect();
        options.sort();
        options.dedup();
        if options.len() > MAX_OPTION_VALUES {
            options.clear();
        }
        CatalogWords { products, options }
    }
}

/// The facts of `reply` that none of `sources` contains; empty when the reply is grounded.
pub fn ungrounded<'a>(reply: &str, sources: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    Known::from_sources(sources).missing(reply)
}

/// The facts a conversation's sources hold, gathered once.
#[derive(Debug, Default)]
pub struct Known {
    facts: Facts,
    /// Each order's status in its latest record (by order id, upper case).
    statuses: HashMap<String, String>,
    /// The catalog's words, when checked.
    catalog: std::sync::Arc<CatalogWords>,
    /// The catalog's option values the sources state.
    options: HashSet<String>,
    /// The catalog's product types a tool's output named.
    products: HashSet<String>,
    /// In a merchant's conversation: every figure the sources hold, as `(decimals, value ×
    /// 10^decimals)` rounded, for 0 to 3 decimals ([`Known::with_figures`]).
    figures: Option<HashSet<(u32, i64)>>,
}

/// A number a text states, as written: its value and how many decimals it was given with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stated {
    /// The value (negative when written with a minus sign).
    pub value: f64,
    /// Its decimals as written (`12.50` has two).
    pub decimals: u32,
}

/// The numbers a text states as figures: `1,234.5`, `-3.2%`, `$12` — not the parts of a date
/// or a range (`2000-12`, `2001/02/28`, `3-5`), nor digits glued to letters (`W123`, `2nd`).
pub fn stated_numbers(text: &str) -> Vec<Stated> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut decimals = None;
        while i < chars.len() {
            let c = chars[i];
            let digit_next = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                decimals = decimals.map(|d: u32| d + 1);
            } else if c == '.' && digit_next && decimals.is_none() {
                decimals = Some(0);
            } else if !(c == ',' && digit_next && decimals.is_none()) {
                break;
            }
            i += 1;
        }
        let at = |j: Option<usize>| j.and_then(|j| chars.get(j).copied());
        let (prev, prev2) = (at(start.checked_sub(1)), at(start.checked_sub(2)));
        let (next, next2) = (at(Some(i)), at(Some(i + 1)));
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        let letter = |c: Option<char>| c.is_some_and(char::is_alphabetic);
        let dated = matches!(next, Some('-' | '/')) && digit(next2)
            || matches!(prev, Some('-' | '/')) && digit(prev2);
        if letter(prev) || letter(next) || dated {
            continue;
        }
        let digits: String = chars[start..i].iter().filter(|c| **c != ',').collect();
        if let Ok(value) = digits.parse::<f64>() {
            let negative = matches!(prev, Some('-' | '−'));
            out.push(Stated {
                value: if negative { -value } else { value },
                decimals: decimals.unwrap_or(0),
            });
        }
    }
    out
}

/// `value` at `decimals` decimals, scaled to an integer.
fn scaled(value: f64, decimals: u32) -> i64 {
    (value.abs() * 10f64.powi(decimals as i32)).round() as i64
}

/// The whole numbers from 1 up to this a merchant's reply may state without a source ("the top
/// 5", a numbered list); never 0, the figure a model invents after a failed call.
const FREE_COUNT: f64 = 10.0;

/// Whether `text` (lower case) names a product type (`name`, lower case), or several.
fn names_product(text: &str, name: &str) -> bool {
    contains_word(text, name)
        || contains_word(text, &format!("{name}s"))
        || contains_word(text, &format!("{name}es"))
}

impl Known {
    /// Gathers the facts of `sources` (tool outputs and the shopper's messages, in order).
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = &'a str>) -> Known {
        let mut known = Known::default();
        for source in sources {
            let found = facts(source);
            known.facts.tokens.extend(found.tokens);
            known.facts.words.extend(found.words);
            // An order's record: its status, as of this output.
            if let Ok(record) = serde_json::from_str::<serde_json::Value>(source)
                && let (Some(id), Some(status)) = (
                    record.get("order_id").and_then(|v| v.as_str()),
                    record.get("status").and_then(|v| v.as_str()),
                )
            {
                known
                    .statuses
                    .insert(id.to_uppercase(), status.to_lowercase());
            }
        }
        known
    }

    /// The same, also checking what replies say of products against `catalog`: option values
    /// against every source, product types against `tool_outputs` alone.
    pub fn with_catalog<'a>(
        mut self,
        catalog: std::sync::Arc<CatalogWords>,
        sources: impl IntoIterator<Item = &'a str>,
        tool_outputs: impl IntoIterator<Item = &'a str>,
    ) -> Known {
        let sources: Vec<String> = sources.into_iter().map(str::to_lowercase).collect();
        self.options = catalog
            .options
            .iter()
            .filter(|value| sources.iter().any(|s| contains_word(s, value)))
            .cloned()
            .collect();
        let outputs: Vec<String> = tool_outputs.into_iter().map(str::to_lowercase).collect();
        self.products = catalog
            .products
            .iter()
            .filter(|name| outputs.iter().any(|o| names_product(o, name)))
            .cloned()
            .collect();
        self.catalog = catalog;
        self
    }

    /// Also checks the figures of a reply (a merchant's: counts, percentages, any number):
    /// each must be a number of `sources`, as given or rounded to fewer decimals (`1,235` for
    /// 1234.56, `12%` for 12.4). Dates and ids are not figures; whole numbers from 1 to 10 are
    /// free.
    pub fn with_figures<'a>(mut self, sources: impl IntoIterator<Item = &'a str>) -> Known {
        let mut figures = HashSet::new();
        for source in sources {
            // Every number of a source, dates' parts too (a reply may say "December 2000").
            let mut rest = source;
            while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
                let tail = &rest[start..];
                let end = tail
                    .char_indices()
                    .find(|&(k, c)| {
                        !(c.is_ascii_digit()
                            || c == '.' && tail[k + 1..].starts_with(|d: char| d.is_ascii_digit()))
                    })
                    .map_or(tail.len(), |(k, _)| k);
                if let Ok(value) = tail[..end].parse::<f64>() {
                    for decimals in 0..=3 {
                        figures.insert((decimals, scaled(value, decimals)));
                    }
                }
                rest = &tail[end..];
            }
        }
        self.figures = Some(figures);
        self
    }

    /// The figures of `reply` no source holds (when figures are checked).
    fn unsupported_figures(&self, reply: &str) -> Vec<String> {
        let Some(figures) = &self.figures else {
            return Vec::new();
        };
        stated_numbers(reply)
            .into_iter()
            .filter(|n| !(n.decimals == 0 && (1.0..=FREE_COUNT).contains(&n.value.abs())))
            .filter(|n| !figures.contains(&(n.decimals.min(3), scaled(n.value, n.decimals.min(3)))))
            .map(|n| {
                format!(
                    "{:.*} (no tool gave this figure)",
                    n.decimals as usize, n.value
                )
            })
            .collect()
    }

    /// What `reply` says of products that no source supports: an option value no source states,
    /// a product type no tool's output named.
    fn unsupported_product_facts(&self, reply: &str) -> Vec<String> {
        let mut missing = Vec::new();
        for sentence in sentences(reply) {
            let lower = sentence.to_lowercase();
            for value in &self.catalog.options {
                if contains_word(&lower, value)
                    && !negated(&lower, value)
                    && !self.options.contains(value)
                {
                    missing.push(value.clone());
                }
            }
            for name in &self.catalog.products {
                if names_product(&lower, name) && !self.products.contains(name) {
                    missing.push(format!("{name} (no product tool looked it up)"));
                }
            }
        }
        missing
    }

    /// A status given to one order, in a sentence of `reply`, that its latest record does not
    /// have: `#W1 is delivered` where the record says `processed`.
    fn wrong_statuses(&self, reply: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        for sentence in sentences(reply) {
            let stated = facts(sentence);
            let lower = sentence.to_lowercase();
            let orders: Vec<&String> = stated
                .tokens
                .iter()
                .filter(|t| t.starts_with('#'))
                .collect();
            let [order] = orders.as_slice() else {
                continue;
            };
            let Some(status) = self.statuses.get(*order) else {
                continue;
            };
            for word in stated.words.iter().filter(|w| is_status(w)) {
                // "pending" also names "pending (item modified)".
                let fits = status_fits(word, status) || status.starts_with(&format!("{word} ("));
                // "not delivered" is wrong only of an order that is delivered.
                if negated(&lower, word) {
                    if fits {
                        wrong.push(format!("{order} is not {word} (its record says {status})"));
                    }
                } else if !fits {
                    // Said so that a model told of it can put it right.
                    wrong.push(format!("{order} is {word} (its record says {status})"));
                }
            }
        }
        wrong
    }

    /// The facts of `reply` that are not known, sorted; empty when the reply is grounded.
    pub fn missing(&self, reply: &str) -> Vec<String> {
        let known = &self.facts;
        let mut stated = facts(reply);
        // A status or colour the reply only denies ("not yet shipped") is not a fact it states.
        stated.words = sentences(reply)
            .flat_map(|sentence| {
                let lower = sentence.to_lowercase();
                facts(sentence)
                    .words
                    .into_iter()
                    .filter(move |word| !negated(&lower, word))
            })
            .collect();
        if self.figures.is_some() {
            // Amounts and long numbers are figures, checked with their rounding below.
            stated.tokens.retain(|t| t.starts_with('#'));
        }
        let mut missing: Vec<String> = stated
            .tokens
            .difference(&known.tokens)
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
                    .difference(&known.words)
                    // A word for a status is known when a status it stands for is.
                    .filter(|word| {
                        !known
                            .words
                            .iter()
                            .any(|k| WORDS[..STATUSES].contains(k) && status_fits(word, k))
                    })
                    .map(|s| (*s).to_owned()),
            )
            .chain(self.wrong_statuses(reply))
            .chain(self.unsupported_product_facts(reply))
            .chain(self.unsupported_figures(reply))
            .collect();
        missing.sort();
        missing.dedup();
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

    fn keyboards() -> std::sync::Arc<CatalogWords> {
        std::sync::Arc::new(CatalogWords::new(
            ["Mechanical Keyboard".to_owned(), "T-Shirt".to_owned()],
            [
                "clicky", "linear", "tactile", "small", "10", "16GB", "black", "RGB",
            ]
            .map(str::to_owned),
        ))
    }

    fn product_gaps(reply: &str, sources: &[&str], outputs: &[&str]) -> Vec<String> {
        Known::from_sources(sources.iter().copied())
            .with_catalog(
                keyboards(),
                sources.iter().copied(),
                outputs.iter().copied(),
            )
            .missing(reply)
    }

    #[test]
    fn a_merchants_figures_must_each_come_from_a_tool() {
        let output = r#"{"totals": {"revenue": 126728.0, "orders": 1234, "customers": 57}, "change_percent": {"revenue": -12.46}, "period": {"start": "2000-12-01"}}"#;
        let asked = "my top 5 products in December?";
        let known = Known::from_sources([output, asked]).with_figures([output, asked]);
        let grounded = "Revenue was 126,728 from 1,234 orders by 57 customers in December 2000, \
                        down 12.5% (-12.46% exactly). Your top 5, numbered 1 to 5:";
        assert_eq!(known.missing(grounded), Vec::<String>::new());
        let invented = known.missing("You had 1,300 orders from 60 customers, 0 returns.");
        assert_eq!(
            invented,
            [
                "0 (no tool gave this figure)",
                "1300 (no tool gave this figure)",
                "60 (no tool gave this figure)"
            ]
        );
        assert!(
            known
                .missing("Revenue rose 8.2%.")
                .contains(&"8.2 (no tool gave this figure)".to_owned())
        );
        // A shopper's reply is not held for a count.
        assert!(
            Known::from_sources([output])
                .missing("You had 1,300 orders.")
                .is_empty()
        );
    }

    #[test]
    fn stated_numbers_skip_dates_ranges_and_ids() {
        let values = |text: &str| -> Vec<(f64, u32)> {
            stated_numbers(text)
                .iter()
                .map(|n| (n.value, n.decimals))
                .collect()
        };
        assert_eq!(
            values("In 2000-12 revenue was $1,234,567.50, up 12.5% (−3 returns); 42 orders."),
            [(1_234_567.5, 2), (12.5, 1), (-3.0, 0), (42.0, 0)]
        );
        assert_eq!(
            values("From 2001-01-04 to 2001/01/31: 7 days, product 560201, order W123, 2nd."),
            [(7.0, 0), (560_201.0, 0)]
        );
        assert_eq!(values("change: -18.2, range 3-5."), [(-18.2, 1)]);
    }

    #[test]
    fn catalog_words_keep_what_describes_a_product() {
        let words = keyboards();
        assert_eq!(words.products, ["mechanical keyboard", "t-shirt"]);
        // Not "small" (common talk), "10" (a number), "black" (a colour, checked as one).
        assert_eq!(words.options, ["16gb", "clicky", "linear", "tactile"]);
    }

    /// A review found a reply offering "Cherry MX, HyperX and Logitech" switches with no product
    /// tool called: describing a product type nobody looked up is held, and so is an option value
    /// no output gives.
    #[test]
    fn products_are_described_only_from_what_a_tool_returned() {
        let reply = "Our mechanical keyboards come with clicky or linear switches.";
        assert_eq!(
            product_gaps(reply, &["do you sell mechanical keyboards?"], &[]),
            [
                "clicky",
                "linear",
                "mechanical keyboard (no product tool looked it up)"
            ]
        );
        let search = r#"[{"name": "Mechanical Keyboard", "variants": [{"options": {"switch type": "clicky"}}, {"options": {"switch type": "linear"}}]}]"#;
        assert!(product_gaps(reply, &[search], &[search]).is_empty());
        assert_eq!(
            product_gaps("They come with tactile switches too.", &[search], &[search]),
            ["tactile"]
        );
        // Denied, an option is not stated; named by the shopper, it is grounded.
        assert!(product_gaps("We have no tactile ones.", &[search], &[search]).is_empty());
        assert!(
            product_gaps(
                "Tactile ones are out of stock.",
                &[search, "I want tactile"],
                &[search]
            )
            .is_empty()
        );
        // A shopper naming a product type is not a tool looking it up.
        assert_eq!(
            product_gaps("Our t-shirts are soft.", &["any t-shirts?"], &[]),
            ["t-shirt (no product tool looked it up)"]
        );
    }

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
    fn an_orders_status_is_checked_against_that_orders_record() {
        let processed = r##"{"order_id": "#W1000001", "status": "processed"}"##;
        let delivered = r##"{"order_id": "#W1000002", "status": "delivered"}"##;
        let sources = [processed, delivered];
        // "delivered" is in a record, but not #W1000001's.
        assert_eq!(
            ungrounded("Your order #W1000001 was delivered.", sources),
            ["#W1000001 is delivered (its record says processed)"]
        );
        assert!(
            ungrounded(
                "Order #W1000001 is processed. Order #W1000002 was delivered!",
                sources
            )
            .is_empty()
        );
        // People's words for a status: grounded by the statuses they stand for.
        assert!(ungrounded("Good news: #W1000001 has shipped.", sources).is_empty());
        assert_eq!(
            ungrounded("Order #W1000002 is in transit", sources),
            ["#W1000002 is in transit (its record says delivered)"]
        );
        assert_eq!(
            ungrounded("It has shipped.", [r#"{"status": "pending"}"#]),
            ["shipped"]
        );
        // The latest record counts: cancelled after it was pending.
        let cancelled = r##"{"order_id": "#W1000003", "status": "cancelled"}"##;
        let pending = r##"{"order_id": "#W1000003", "status": "pending"}"##;
        assert!(ungrounded("#W1000003 is cancelled.", [pending, cancelled]).is_empty());
        assert_eq!(
            ungrounded("#W1000003 is still pending.", [pending, cancelled]),
            ["#W1000003 is pending (its record says cancelled)"]
        );
        // "pending" names an order whose items were modified too.
        let modified = r##"{"order_id": "#W1000004", "status": "pending (item modified)"}"##;
        assert!(ungrounded("#W1000004 is pending.", [modified]).is_empty());
    }

    #[test]
    fn a_denied_status_is_not_a_claim_of_it() {
        let pending = r##"{"order_id": "#W1000005", "status": "pending"}"##;
        assert!(
            ungrounded(
                "Your order #W1000005 has not shipped yet; it is pending.",
                [pending]
            )
            .is_empty()
        );
        assert!(ungrounded("#W1000005 hasn't been delivered.", [pending]).is_empty());
        assert!(ungrounded("It is yet to be shipped.", [pending]).is_empty());
        let delivered = r##"{"order_id": "#W1000006", "status": "delivered"}"##;
        assert_eq!(
            ungrounded("Order #W1000006 has not been delivered.", [delivered]),
            ["#W1000006 is not delivered (its record says delivered)"]
        );
    }

    #[test]
    fn amounts_are_read_as_people_write_them() {
        assert_eq!(
            ungrounded("It comes to 45 dollars, or 45 USD.", [r#"{"price": 44.0}"#]),
            ["45.00"]
        );
        assert!(ungrounded("It comes to 45 dollars.", [r#"{"price": 45.0}"#]).is_empty());
        assert!(ungrounded("I have 45 dollarsigns.", [""]).is_empty());
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
