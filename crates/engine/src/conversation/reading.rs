//! The shopper's message read once, at the start of a turn, into what the stages of the turn
//! act on: the ids, emails, a name with a zip, a yes, the requests the policy makes
//! deterministic (a person, a cancellation with its reason, an address), and the questions the
//! engine answers from its own lookups. The reading is of words only ([`assist`],
//! [`proposal::address`]); what the store holds of them is looked up by the stages.

use super::{assist, policy, proposal};
use clerk_core::store::model::Address;

/// What a message says, as far as its words go.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The message as written.
    pub text: String,
    /// The message lower-cased, for the readings that look for words.
    pub lower: String,
    /// A plain yes ([`policy::is_confirmation`]).
    pub yes: bool,
    /// The email addresses in it, lower-cased, in order.
    pub emails: Vec<String>,
    /// Each first and last name written with a zip code.
    pub names_with_zip: Vec<(String, String, String)>,
    /// The order ids in it, as the store writes them.
    pub order_ids: Vec<String>,
    /// Its mood in thousandths, -1000 (furious) to 1000 ([`clerk_core::sentiment::message_mood`]).
    pub mood: i64,
    /// It asks, in so many words, for a person.
    pub asks_for_person: bool,
    /// It is about the shopper's account as a whole: payment, refunds, addresses, their orders.
    pub about_account: bool,
    /// It needs the shopper's identity to be answered (an id, an email, their orders).
    pub needs_account: bool,
    /// It asks what to buy.
    pub asks_for_suggestions: bool,
    /// It asks what reviewers say of a product.
    pub asks_about_reviews: bool,
    /// It asks how the store works (shipping, gift cards, policies).
    pub asks_how_the_store_works: bool,
    /// The policy's reason, when it asks to cancel and gives one.
    pub cancel_reason: Option<&'static str>,
    /// A full postal address written in it.
    pub address: Option<Address>,
    /// It gives an email, or a name with a zip, and asks nothing else ("Hi, my email is …").
    pub only_identifies: bool,
    /// It asks for the catalog's cheapest or dearest of something ([`assist::price_superlative`]).
    pub superlative: Option<clerk_core::search::Sort>,
}

impl Reading {
    /// Reads `text`.
    pub fn of(text: &str) -> Reading {
        let emails = assist::emails(text);
        let order_ids = assist::order_ids(text);
        let names_with_zip = assist::names_with_zip(text);
        let emails_and_names: Vec<String> = emails
            .iter()
            .cloned()
            .chain(
                names_with_zip
                    .iter()
                    .flat_map(|(first, last, zip)| [first.clone(), last.clone(), zip.clone()]),
            )
            .collect();
        let about_account = assist::about_account(text);
        let needs_account = !emails.is_empty()
            || !order_ids.is_empty()
            || !names_with_zip.is_empty()
            || about_account
            || assist::about_orders(text);
        Reading {
            text: text.to_owned(),
            lower: text.to_lowercase(),
            yes: policy::is_confirmation(text),
            emails,
            names_with_zip,
            order_ids,
            mood: clerk_core::sentiment::message_mood(text),
            asks_for_person: assist::asks_for_person(text),
            about_account,
            needs_account,
            asks_for_suggestions: assist::asks_for_suggestions(text),
            asks_about_reviews: assist::asks_about_reviews(text),
            asks_how_the_store_works: assist::asks_how_the_store_works(text),
            cancel_reason: assist::cancel_reason(text),
            address: proposal::address(text),
            only_identifies: only_identifies(text, &emails_and_names),
            superlative: assist::price_superlative(text),
        }
    }

    /// Whether the shopper sounds clearly upset ([`clerk_core::store::UPSET`]).
    pub fn upset(&self) -> bool {
        self.mood <= clerk_core::store::UPSET
    }
}

/// The words a message that only identifies the shopper may hold besides the email, or the
/// name and zip, it gives.
const IDENTIFYING_WORDS: [&str; 34] = [
    "hi",
    "hello",
    "hey",
    "good",
    "morning",
    "afternoon",
    "evening",
    "there",
    "my",
    "email",
    "e-mail",
    "address",
    "is",
    "it's",
    "its",
    "here",
    "name",
    "i'm",
    "i",
    "am",
    "zip",
    "code",
    "zipcode",
    "postal",
    "and",
    "this",
    "me",
    "the",
    "thanks",
    "thank",
    "you",
    "please",
    "with",
    "in",
];

/// Whether `text` gives `given` (an email, or a name and zip) and nothing else but greetings
/// and the words that introduce them.
fn only_identifies(text: &str, given: &[String]) -> bool {
    if given.is_empty() || text.contains('?') {
        return false;
    }
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '!' | ':' | ';'))
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty())
        .all(|word| {
            let lower = word.to_lowercase();
            IDENTIFYING_WORDS.contains(&lower.as_str())
                || given.iter().any(|g| g.eq_ignore_ascii_case(word))
        })
}

#[cfg(test)]
mod tests {
    use super::Reading;

    #[test]
    fn a_message_is_read_into_what_the_turn_acts_on() {
        let reading = Reading::of(
            "I'm furious, this is terrible! Cancel #W2378156, I no longer need it. \
             My email is Yusuf.Rossi7301@example.com",
        );
        assert_eq!(reading.emails, ["yusuf.rossi7301@example.com"]);
        assert_eq!(reading.order_ids, ["#W2378156"]);
        assert_eq!(reading.cancel_reason, Some("no longer needed"));
        assert!(reading.needs_account);
        assert!(reading.upset());
        assert!(!reading.yes && !reading.asks_for_person && reading.address.is_none());

        let yes = Reading::of("Yes, please.");
        assert!(yes.yes && !yes.needs_account && !yes.upset());
        assert!(Reading::of("Can I talk to a human?").asks_for_person);
        let where_is = Reading::of("Where is my order?");
        assert!(where_is.needs_account && where_is.order_ids.is_empty());

        assert!(Reading::of("Hi, my email is yusuf.rossi7301@example.com").only_identifies);
        assert!(Reading::of("I'm Raj Sanchez, zip code 92147.").only_identifies);
        assert!(!Reading::of("My email is a@b.example. Where is my order?").only_identifies);
        assert!(!Reading::of("a@b.example, cancel my order please").only_identifies);
        assert!(!Reading::of("Hi there, thanks!").only_identifies);

        use clerk_core::search::Sort;
        let cheapest = Reading::of("What's the cheapest water bottle you have in stock?");
        assert_eq!(cheapest.superlative, Some(Sort::PriceAsc));
        let dearest = Reading::of("Which is your most expensive laptop?");
        assert_eq!(dearest.superlative, Some(Sort::PriceDesc));
        assert_eq!(Reading::of("Do you sell laptops?").superlative, None);
    }
}
