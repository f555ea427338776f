//! What the engine does itself, so that a small model need not: the steps the policy makes
//! deterministic. An email (or a first and last name with a zip code) in a shopper's message is
//! looked up before the model is asked; an order id an authenticated shopper names has its details
//! fetched; a newly authenticated shopper's account is read; a shopper who asks for a person is
//! transferred. The model is shown these as calls it made and their results, so it answers from
//! them. And a reply that only promises an action ("I will now look up…") is recognised, so the
//! engine can tell the model to act instead.
//!
//! Everything here reads the shopper's words; nothing here decides what a shopper may see —
//! every call the engine makes goes through the same gates as the model's.

/// The email addresses in a message, lower-cased, in order, without repeats.
pub fn emails(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '"' | '\'')
    }) {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let Some((local, domain)) = word.split_once('@') else {
            continue;
        };
        let valid_local = !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        let email = word.to_lowercase();
        if valid_local && valid_domain && !found.contains(&email) {
            found.push(email);
        }
    }
    found
}

/// The order ids in a message, written as the store writes them (`#W` and seven digits), in
/// order, without repeats. Shoppers also write them without the `#`, or in lower case.
pub fn order_ids(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<String> = Vec::new();
    for i in 0..chars.len() {
        if !matches!(chars[i], 'W' | 'w') {
            continue;
        }
        let before = i.checked_sub(1).map(|j| chars[j]);
        if before.is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let digits: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let after = chars.get(i + 1 + digits.len());
        if digits.len() == 7 && !after.is_some_and(|c| c.is_alphanumeric()) {
            let id = format!("#W{digits}");
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    found
}

/// Words that start a sentence or name no one, never read as a first or last name.
const NOT_NAMES: [&str; 24] = [
    "Hi", "Hello", "Hey", "My", "I", "I'm", "Im", "The", "This", "Name", "Zip", "Code", "Thanks",
    "Thank", "Please", "Yes", "No", "Is", "And", "Dear", "Good", "Morning", "Evening", "Ok",
];

/// The (first name, last name, zip code) a message may identify a shopper by: its first
/// five-digit number as the zip, with each pair of adjacent capitalised words as a name. The
/// engine tries them in order; none may match anyone.
pub fn names_with_zip(text: &str) -> Vec<(String, String, String)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '.' | '!' | '?'))
        .filter(|w| !w.is_empty())
        .collect();
    let Some(zip) = words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()))
        .find(|w| w.len() == 5 && w.chars().all(|c| c.is_ascii_digit()))
    else {
        return Vec::new();
    };
    let is_name = |w: &str| {
        let mut chars = w.chars();
        chars.next().is_some_and(char::is_uppercase)
            && chars.all(|c| c.is_alphabetic() || c == '-' || c == '\'')
            && w.chars().count() > 1
            && !NOT_NAMES.contains(&w)
    };
    words
        .windows(2)
        .filter(|pair| is_name(pair[0]) && is_name(pair[1]))
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned(), zip.to_owned()))
        .take(3)
        .collect()
}

/// Words that say nothing of the product a shopper looks for.
const FILLER: [&str; 40] = [
    "a", "an", "the", "do", "does", "you", "your", "yours", "sell", "have", "has", "any", "some",
    "i", "i'm", "im", "me", "my", "is", "are", "it", "its", "in", "on", "of", "for", "with", "and",
    "or", "what", "which", "how", "much", "can", "could", "please", "there", "also", "hi", "hello",
];

/// The catalog's products a message names, however loosely ("hedphones", "yoga mats",
/// "wireles erbuds"), as a search query: the names found, then the message's other words that may
/// describe the item (colour, size, …), and how many products it names. `None` when it names no
/// product of `names`.
pub fn product_query(text: &str, names: &[String]) -> Option<(String, usize)> {
    let words = message_words(text);
    let mut found: Vec<&str> = Vec::new();
    let mut used = vec![false; words.len()];
    for name in names {
        if let Some(at) = product_named_at(&words, name) {
            found.push(name);
            used[at] = true;
        }
    }
    if found.is_empty() {
        return None;
    }
    let named: Vec<String> = found.iter().map(|n| n.to_lowercase()).collect();
    let described = words.iter().zip(&used).filter(|(w, used)| {
        !**used && !FILLER.contains(&w.as_str()) && !named.iter().any(|n| n.contains(w.as_str()))
    });
    let mut query = named.clone();
    query.extend(described.map(|(w, _)| w.clone()));
    Some((query.join(" "), named.len()))
}

/// The catalog's spelling of each product word a message misspelt, as the search read it:
/// ("hedphones", "headphones"), ("erbud", "earbud"). A word any catalog name spells so, or a
/// plural of one, is no typo ("cables" is no "tables" where the catalog sells cables).
pub fn misspelt_products(text: &str, names: &[String]) -> Vec<(String, String)> {
    let catalog: Vec<String> = names
        .iter()
        .flat_map(|name| {
            name.to_lowercase()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let spelt_so = |word: &str| {
        [Some(word), word.strip_suffix('s'), word.strip_suffix("es")]
            .into_iter()
            .flatten()
            .any(|form| {
                catalog
                    .iter()
                    .any(|c| c == form || c.replace('-', "") == form.replace('-', ""))
            })
    };
    let words: Vec<String> = message_words(text)
        .into_iter()
        .filter(|word| !spelt_so(word))
        .collect();
    let mut found = Vec::new();
    for name in names {
        let lower = name.to_lowercase();
        let Some(head) = lower.split_whitespace().last() else {
            continue;
        };
        for word in words.iter().filter(|w| same_word(w, head)) {
            if found.iter().any(|(typo, _)| typo == word) {
                continue;
            }
            let plural = word.ends_with('s') && !head.ends_with('s');
            let spelt = if plural {
                format!("{head}s")
            } else {
                head.to_owned()
            };
            found.push((word.clone(), spelt));
        }
    }
    found
}

/// A message's words, lower-cased, as product names are matched against them (hyphens and
/// apostrophes kept: "t-shirt", "i'm").
pub fn message_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a message's `words` ([`message_words`]) name the product `name`.
pub fn names_product(words: &[String], name: &str) -> bool {
    product_named_at(words, name).is_some()
}

/// Where a message's `words` name the product `name`: by its last word ("keyboard" for
/// "Mechanical Keyboard"), loosely; a short last word ("set", "mat", "kit") only with the word
/// before it ("luggage set"), since "set my address" asks for no luggage.
fn product_named_at(words: &[String], name: &str) -> Option<usize> {
    let lower = name.to_lowercase();
    let head = lower.split_whitespace().last()?;
    let before = lower.split_whitespace().rev().nth(1);
    let qualified =
        head.chars().count() >= 5 || before.is_none_or(|b| words.iter().any(|w| same_word(w, b)));
    let at = words.iter().position(|w| same_word(w, head))?;
    qualified.then_some(at)
}

/// Whether a shopper's word is a catalog word: the same, its plural, or (for words of five
/// letters or more) one typing mistake away.
fn same_word(word: &str, catalog: &str) -> bool {
    let forms = [Some(word), word.strip_suffix('s'), word.strip_suffix("es")];
    let loose = catalog.chars().count() >= 5;
    forms.into_iter().flatten().any(|form| {
        form == catalog
            || form.replace('-', "") == catalog.replace('-', "")
            || (loose && edit_distance(form, catalog) <= 1)
    })
}

/// Levenshtein distance, for short words.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut previous = row[0];
        row[0] = i;
        for j in 1..=b.len() {
            let current = row[j];
            row[j] = (row[j] + 1)
                .min(row[j - 1] + 1)
                .min(previous + usize::from(a[i - 1] != b[j - 1]));
            previous = current;
        }
    }
    row[b.len()]
}

/// Whether a message is about the shopper's account — payment methods, refunds, addresses, their
/// orders as a whole — so that their account's details help answer it.
pub fn about_account(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "pay",
        "card",
        "gift",
        "refund",
        "credit",
        "address",
        "account",
        "profile",
        "my orders",
        "which orders",
        "orders do i",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// Whether a message asks what to buy: a recommendation, a suggestion, ideas.
pub fn asks_for_suggestions(text: &str) -> bool {
    says_any(
        text,
        &[
            "recommend",
            "suggest",
            "what should i buy",
            "what should i get",
            "what else should i",
            "what else could i",
            "what to buy",
            "buy next",
            "any ideas",
            "ideas for",
            "might i like",
            "would i like",
        ],
    )
}

/// Whether `text`, lower-cased (curly apostrophes read as straight), holds any of `phrases`.
fn says_any(text: &str, phrases: &[&str]) -> bool {
    let lower = text.to_lowercase().replace('’', "'");
    phrases.iter().any(|phrase| lower.contains(phrase))
}

/// Whether a message asks how the store works — shipping, gift cards, how long a refund
/// takes, the store's policies — which its help articles answer.
pub fn asks_how_the_store_works(text: &str) -> bool {
    says_any(
        text,
        &[
            "do you ship",
            "do you deliver",
            "ship to ",
            "deliver to ",
            "shipping cost",
            "how do gift card",
            "how does a gift card",
            "how do gift-card",
            "gift cards work",
            "gift card work",
            "how long does",
            "how long do",
            "how long will",
            "how does it work",
            "how do returns",
            "how do exchanges",
            "how do i return",
            "how do i exchange",
            "how do i cancel",
            "can i cancel",
            "can i return",
            "can i exchange",
            "what is your",
            "what's your",
            "what are your",
            "policy",
            "policies",
        ],
    )
}

/// Whether a message asks what reviewers or customers say of a product.
pub fn asks_about_reviews(text: &str) -> bool {
    says_any(
        text,
        &[
            "review",
            "people say",
            "customers say",
            "others say",
            "people think",
            "customers think",
            "people saying",
            "complain",
            "rated",
            "rating",
            "stars",
        ],
    )
}

/// The order by price a message asks the catalog in, when it asks for an extreme ("the cheapest
/// water bottle", "your most expensive laptop").
pub fn price_superlative(text: &str) -> Option<clerk_core::search::Sort> {
    use clerk_core::search::Sort;
    let lower = text.to_lowercase();
    let low = [
        "cheapest",
        "least expensive",
        "lowest price",
        "lowest-priced",
        "most affordable",
    ];
    let high = [
        "most expensive",
        "priciest",
        "highest price",
        "highest-priced",
        "most costly",
    ];
    if low.iter().any(|words| lower.contains(words)) {
        Some(Sort::PriceAsc)
    } else if high.iter().any(|words| lower.contains(words)) {
        Some(Sort::PriceDesc)
    } else {
        None
    }
}

/// The one product a message names, of `products` (name, product id): by its id written out
/// ("1078"), else by its name when exactly one product's name is in the message. `None` when it
/// names none, or several.
pub fn one_product(text: &str, products: &[(String, String)]) -> Option<String> {
    let words = message_words(text);
    let by_id: Vec<&String> = products
        .iter()
        .map(|(_, id)| id)
        .filter(|id| words.iter().any(|w| w == &id.to_lowercase()))
        .collect();
    match by_id.as_slice() {
        [one] => return Some((*one).clone()),
        [] => {}
        _ => return None,
    }
    let named: Vec<&String> = products
        .iter()
        .filter(|(name, _)| names_product(&words, name))
        .map(|(_, id)| id)
        .collect();
    match named.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Whether a message asks about the shopper's orders (their order, a cancellation, a return, a
/// delivery): with an id, an email, a name with a zip or the account, what needs the shopper's
/// identity to be answered ([`super::reading::Reading::needs_account`]).
pub fn about_orders(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "my order",
        "an order",
        "the order",
        "cancel",
        "return",
        "exchange",
        "track",
        "deliver",
        "shipped",
        "my package",
        "my parcel",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// The policy's cancellation reason, when `text` asks to cancel an order and gives its reason
/// ("I no longer need it", "I ordered it by mistake"); `None` when it does not ask, or gives no
/// reason the policy accepts (the model then asks for one).
pub fn cancel_reason(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase().replace('’', "'");
    let asks = lower.match_indices("cancel").any(|(at, _)| {
        let after = lower[at + "cancel".len()..].chars().next();
        // "cancel" itself, not "cancelled" or "cancellation" (a question about a status).
        !after.is_some_and(char::is_alphabetic)
    });
    if !asks {
        return None;
    }
    const NOT_NEEDED: [&str; 5] = [
        "no longer need",
        "don't need",
        "do not need",
        "not needed",
        "no need for",
    ];
    const MISTAKE: [&str; 4] = ["by mistake", "mistakenly", "by accident", "accidentally"];
    if NOT_NEEDED.iter().any(|p| lower.contains(p)) {
        Some("no longer needed")
    } else if MISTAKE.iter().any(|p| lower.contains(p)) {
        Some("ordered by mistake")
    } else {
        None
    }
}

/// Whether the shopper asks, in so many words, to talk to a person ("Can I speak to a real
/// person?", "I want a human agent"): the policy then transfers them, which the engine does itself.
pub fn asks_for_person(text: &str) -> bool {
    let lower = text.to_lowercase();
    const ASKS: [&str; 11] = [
        "talk to",
        "speak to",
        "speak with",
        "talk with",
        "chat with",
        "connect me",
        "transfer me",
        "put me through",
        "get me",
        "want a",
        "need a",
    ];
    const PEOPLE: [&str; 10] = [
        "human",
        "person",
        "agent",
        "representative",
        "someone",
        "somebody",
        "staff",
        "operator",
        "manager",
        "real people",
    ];
    ASKS.iter().any(|ask| {
        lower.match_indices(ask).any(|(at, _)| {
            let rest: String = lower[at + ask.len()..].chars().take(40).collect();
            PEOPLE.iter().any(|who| rest.contains(who))
        })
    })
}

/// Whether a reply only announces an action it did not take: "I will now look up…", "Let me
/// check…", "One moment while I…". A reply that asks the shopper something, or answers from
/// what it found, is not one.
pub fn promises_action(reply: &str) -> bool {
    let lower = reply.to_lowercase();
    const VERBS: [&str; 16] = [
        "look", "check", "search", "find", "get", "fetch", "retrieve", "pull", "verify", "process",
        "proceed", "cancel", "locate", "confirm", "review", "transfer",
    ];
    const OPENERS: [&str; 8] = [
        "i will ",
        "i'll ",
        "let me ",
        "i am going to ",
        "i'm going to ",
        "i will now ",
        "i'm now ",
        "i am now ",
    ];
    let announces = OPENERS.iter().any(|opener| {
        lower.match_indices(opener).any(|(at, _)| {
            let rest = lower[at + opener.len()..].trim_start_matches("now ");
            let rest = rest.trim_start_matches("quickly ");
            VERBS.iter().any(|verb| rest.starts_with(verb))
        })
    }) || ["one moment", "please wait", "please hold", "bear with me"]
        .iter()
        .any(|p| lower.contains(p));
    // A reply that asks something of the shopper is waiting for them, not stalling.
    announces && !lower.trim_end().ends_with('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_for_suggestions_are_told_from_other_questions() {
        for asked in [
            "What would you recommend I buy next?",
            "Can you suggest something for my kitchen?",
            "any ideas for a gift?",
            "What should I get with it?",
        ] {
            assert!(asks_for_suggestions(asked), "{asked}");
        }
        for other in [
            "Where is my order #W2378156?",
            "Do you sell water bottles?",
            "I want to return my keyboard",
        ] {
            assert!(!asks_for_suggestions(other), "{other}");
        }
    }

    #[test]
    fn review_questions_and_the_one_product_they_name_are_told() {
        for asked in [
            "What do reviewers say about the Water Bottle?",
            "Any complaints about dress 1078?",
            "how is it rated?",
            "What do people think of the hiking boots?",
        ] {
            assert!(asks_about_reviews(asked), "{asked}");
        }
        assert!(!asks_about_reviews("Where is my order #W2378156?"));
        let products = [
            ("Water Bottle".to_owned(), "8310926033".to_owned()),
            ("Dresses 1078".to_owned(), "1078".to_owned()),
            ("Dresses 1080".to_owned(), "1080".to_owned()),
        ];
        assert_eq!(
            one_product("reviews of the water bottle?", &products).as_deref(),
            Some("8310926033")
        );
        assert_eq!(
            one_product("what do people say about 1078", &products).as_deref(),
            Some("1078")
        );
        // Two dresses by name: which one is not known.
        assert_eq!(one_product("reviews of the dresses?", &products), None);
        assert_eq!(one_product("reviews of 1078 and 1080?", &products), None);
    }

    #[test]
    fn emails_are_found_however_they_are_written() {
        assert_eq!(
            emails("Hi! My email is Yusuf.Rossi7301@example.com."),
            ["yusuf.rossi7301@example.com"]
        );
        assert_eq!(
            emails("it's <a_b+c@mail.co.uk>, or a_b+c@mail.co.uk"),
            ["a_b+c@mail.co.uk"]
        );
        assert!(emails("I am @home, and user@localhost has none").is_empty());
    }

    #[test]
    fn order_ids_are_found_with_or_without_the_hash() {
        assert_eq!(
            order_ids("Order #W2378156, and also w1234567? Not #W12345678 nor AW1234567."),
            ["#W2378156", "#W1234567"]
        );
        assert_eq!(order_ids("#W2378156 #W2378156"), ["#W2378156"]);
    }

    #[test]
    fn names_are_paired_with_a_zip() {
        assert_eq!(
            names_with_zip("Hi, I'm Yusuf Rossi, zip code 19122."),
            [("Yusuf".to_owned(), "Rossi".to_owned(), "19122".to_owned())]
        );
        assert!(names_with_zip("My name is Yusuf Rossi").is_empty());
        assert!(names_with_zip("my zip is 19122").is_empty());
    }

    #[test]
    fn products_are_found_however_loosely_they_are_named() {
        let names: Vec<String> = [
            "Headphones",
            "Yoga Mat",
            "Wireless Earbuds",
            "Mechanical Keyboard",
            "T-Shirt",
            "Laptop",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            product_query("Do you sell hedphones? Which colors?", &names),
            Some(("headphones colors".into(), 1))
        );
        assert_eq!(
            product_query("Do you have wireles erbuds?", &names),
            Some(("wireless earbuds".into(), 1))
        );
        assert_eq!(
            product_query("Do you sell yoga mats in green?", &names),
            Some(("yoga mat green".into(), 1))
        );
        assert_eq!(
            product_query("a tshirt and a laptop", &names),
            Some(("t-shirt laptop".into(), 2))
        );
        assert_eq!(product_query("Where is my order?", &names), None);
        assert_eq!(
            product_query("any sunglasses?", &["Sunglasses".to_owned()]),
            Some(("sunglasses".into(), 1))
        );
        assert_eq!(product_query("my mat", &["Math Book".to_owned()]), None);
        assert_eq!(
            product_query("please set my address", &["Luggage Set".to_owned()]),
            None
        );
    }

    #[test]
    fn a_request_for_a_person_is_recognised() {
        for ask in [
            "I'd like to talk to a human, please.",
            "Can I speak to a real person about my order?",
            "Please connect me with an agent",
            "I want a human",
        ] {
            assert!(asks_for_person(ask), "{ask}");
        }
        for other in [
            "I'm a human, not a robot. Where is my order?",
            "Can you talk to the warehouse about my order?",
            "I need a new charger for my laptop",
        ] {
            assert!(!asks_for_person(other), "{other}");
        }
    }

    #[test]
    fn a_promise_without_an_action_is_recognised() {
        for stall in [
            "I will now search for your user id using the email you provided.",
            "Let me check the status of your order.",
            "Thank you! I'll look up your order now.",
            "One moment while I find that.",
        ] {
            assert!(promises_action(stall), "{stall}");
        }
        for answer in [
            "Your order #W2378156 was delivered. Let me know if you need anything else.",
            "I will need your email address first. What is it?",
            "Could you give me your order id? I'll check it then?",
            "The headphones come in blue and black.",
        ] {
            assert!(!promises_action(answer), "{answer}");
        }
    }

    #[test]
    fn a_cancellation_is_read_with_its_reason() {
        use super::cancel_reason;
        assert_eq!(
            cancel_reason("Please cancel my order #W1, I no longer need it."),
            Some("no longer needed")
        );
        assert_eq!(
            cancel_reason("I ordered #W1 by mistake, please cancel it."),
            Some("ordered by mistake")
        );
        assert_eq!(
            cancel_reason("Cancel #W1 please, I don't need it"),
            Some("no longer needed")
        );
        // No reason: the model asks. A question about a status is no request.
        assert_eq!(cancel_reason("Please cancel #W1."), None);
        assert_eq!(
            cancel_reason("Was #W1 cancelled? I no longer need it."),
            None
        );
    }
}
