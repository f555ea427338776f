//! What reviewers talk about. Aspects are found in the store's own reviews, not taken from a
//! fixed list: the nouns reviewers evaluate, read from the pattern "the ⟨word⟩ is / was / feels /
//! runs…" ("the fabric is soft", "the sleeves were too long"), less the words of the catalog's
//! product names (the thing reviewed, not an aspect of it) and a few generic words. For one
//! product, each aspect's sentences are scored by the sentiment model: the share positive and
//! negative, and the clearest sentence of each side quoted.

use super::{Label, SentimentModel};
use crate::store::Review;
use std::collections::{HashMap, HashSet};

/// Words never taken for an aspect: sizes, the reviewed thing in general words, people.
const NOT_ASPECTS: &[&str] = &[
    "one", "s", "xs", "xl", "xxl", "small", "medium", "large", "petite", "regular", "model",
    "thing", "way", "first", "only", "same", "other", "rest", "picture", "photo", "pic", "item",
    "product", "piece", "order", "review", "reviewer", "fact", "problem", "issue", "company",
    "store", "website", "site", "time", "day", "result", "reason", "bottom", "top", "front",
    "back", "side", "inside", "outside", "shirt", "dress", "sweater", "skirt", "pant", "blouse",
    "jacket", "jean", "coat", "vest", "tunic", "tee", "cardigan", "suit", "slip", "romper",
    "jumpsuit", "bra", "legging", "short", "kimono", "pullover", "it", "that", "this", "which",
    "what", "there", "here", "other", "whole", "overall", "last", "next", "new", "old",
];

/// Verbs after which the word before is being evaluated.
const VERBS: &[&str] = &[
    "is", "was", "are", "were", "feels", "felt", "runs", "ran", "seems", "seemed", "looks",
    "looked", "fits", "hits", "falls", "hangs", "makes", "made",
];

/// Words that open the pattern.
const DETERMINERS: &[&str] = &["the", "its", "it's", "this", "these", "their", "my", "her"];

/// The singular of a word, as far as matching needs ("sleeves" → "sleeve", "dresses" → "dress").
pub fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("sses") {
        format!("{stem}ss")
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_owned()
    } else {
        word.to_owned()
    }
}

fn words(text: &str) -> Vec<String> {
    super::text::tokens(text)
        .into_iter()
        .filter_map(|t| match t {
            super::text::Token::Word(w) => Some(w),
            super::text::Token::Break => None,
        })
        .collect()
}

/// The aspects of a store's reviews, most evaluated first: at most `limit` words seen at least
/// three times in the pattern, less the words of `product_names`.
pub fn vocabulary<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    product_names: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Vec<String> {
    let mut excluded: HashSet<String> = NOT_ASPECTS.iter().map(|w| (*w).to_owned()).collect();
    for name in product_names {
        for word in words(name) {
            excluded.insert(singular(&word));
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for text in texts {
        let words = words(text);
        for window in words.windows(3) {
            if DETERMINERS.contains(&window[0].as_str())
                && VERBS.contains(&window[2].as_str())
                && window[1].chars().all(|c| c.is_alphabetic())
            {
                let word = singular(&window[1]);
                if !excluded.contains(&word) {
                    *counts.entry(word).or_default() += 1;
                }
            }
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n >= 3).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(limit).map(|(w, _)| w).collect()
}

/// One aspect of one product.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Aspect {
    /// The aspect ("fabric").
    pub aspect: String,
    /// How many of the product's reviews speak of it.
    pub reviews: usize,
    /// Share of the clauses about it that read positive (0–1, two decimals).
    pub positive: f64,
    /// Share that read negative.
    pub negative: f64,
    /// The clearest positive clause, quoted as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_quote: Option<String>,
    /// The clearest negative clause, quoted as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_quote: Option<String>,
}

/// The longest quote kept, in characters.
const QUOTE_CHARS: usize = 200;

/// The clauses of a text, trimmed, as written: its sentences, cut again before "but" and
/// "however" and at semicolons ("the fabric is gorgeous, but the fit was unflattering" speaks
/// well of one aspect and ill of another).
pub fn clauses(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for sentence in sentences(text) {
        let lower = sentence.to_lowercase();
        // Byte offsets agree: lower-casing keeps ASCII words where they are, and the cuts are
        // only taken where the original has the same ASCII word.
        let mut cuts = vec![0];
        for word in [" but ", " however ", ", but", "; "] {
            for (at, _) in lower.match_indices(word) {
                if sentence
                    .get(at..at + word.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(word))
                {
                    cuts.push(at);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts.push(sentence.len());
        for pair in cuts.windows(2) {
            let clause = sentence[pair[0]..pair[1]]
                .trim_matches(|c: char| c.is_whitespace() || c == ',' || c == ';');
            if clause.chars().any(char::is_alphabetic) {
                out.push(clause);
            }
        }
    }
    out
}

/// The sentences of a text, trimmed, as written.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let end = i + c.len_utf8();
            let sentence = text[start..end].trim();
            if sentence.chars().any(char::is_alphabetic) {
                out.push(sentence);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if rest.chars().any(char::is_alphabetic) {
        out.push(rest);
    }
    out
}

/// The aspects `vocabulary` finds in one product's `reviews`, most discussed first: at most
/// `limit`, each spoken of in at least two reviews.
pub fn of_product(
    reviews: &[Review],
    vocabulary: &[String],
    model: &SentimentModel,
    limit: usize,
) -> Vec<Aspect> {
    struct Tally<'a> {
        reviews: usize,
        sentences: usize,
        positive: usize,
        negative: usize,
        best: Option<(f32, &'a str)>,
        worst: Option<(f32, &'a str)>,
    }
    let wanted: HashSet<&str> = vocabulary.iter().map(String::as_str).collect();
    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for review in reviews {
        let mut seen_here: HashSet<&str> = HashSet::new();
        for sentence in clauses(&review.title)
            .into_iter()
            .chain(clauses(&review.text))
        {
            let mentioned: HashSet<&str> = words(sentence)
                .iter()
                .filter_map(|w| wanted.get(singular(w).as_str()).copied())
                .collect();
            if mentioned.is_empty() {
                continue;
            }
            let sentiment = model.score("", sentence);
            for aspect in mentioned {
                let tally = tallies.entry(aspect).or_insert(Tally {
                    reviews: 0,
                    sentences: 0,
                    positive: 0,
                    negative: 0,
                    best: None,
                    worst: None,
                });
                if seen_here.insert(aspect) {
                    tally.reviews += 1;
                }
                tally.sentences += 1;
                let quotable = sentence.chars().count() <= QUOTE_CHARS;
                match sentiment.label {
                    Label::Positive => {
                        tally.positive += 1;
                        if quotable && tally.best.is_none_or(|(s, _)| sentiment.score > s) {
                            tally.best = Some((sentiment.score, sentence));
                        }
                    }
                    Label::Negative => {
                        tally.negative += 1;
                        if quotable && tally.worst.is_none_or(|(s, _)| sentiment.score < s) {
                            tally.worst = Some((sentiment.score, sentence));
                        }
                    }
                    Label::Neutral => {}
                }
            }
        }
    }
    let share = |n: usize, of: usize| ((n as f64 / of.max(1) as f64) * 100.0).round() / 100.0;
    let mut aspects: Vec<Aspect> = tallies
        .into_iter()
        .filter(|(_, t)| t.reviews >= 2)
        .map(|(aspect, t)| Aspect {
            aspect: aspect.to_owned(),
            reviews: t.reviews,
            positive: share(t.positive, t.sentences),
            negative: share(t.negative, t.sentences),
            positive_quote: t.best.map(|(_, s)| s.to_owned()),
            negative_quote: t.worst.map(|(_, s)| s.to_owned()),
        })
        .collect();
    aspects.sort_by(|a, b| b.reviews.cmp(&a.reviews).then(a.aspect.cmp(&b.aspect)));
    aspects.truncate(limit);
    aspects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_come_from_the_texts_less_the_product_names() {
        let texts = [
            "The fabric is soft. The dress is lovely.",
            "the fabric was thin and the sleeves were long",
            "Their fabric feels cheap; the sleeves are short.",
            "The sleeves run long. the zipper is sturdy",
            "The dresses are cute",
        ];
        let vocabulary = vocabulary(texts, ["Dresses 1080"], 10);
        // "sleeves run" is not the pattern: the sleeves are seen twice, the zipper once.
        assert_eq!(vocabulary, ["fabric"]);
    }

    #[test]
    fn clauses_cut_before_but_and_keep_their_words() {
        assert_eq!(
            clauses("The fabric is gorgeous, but the fit was very unflattering. Love it; really"),
            [
                "The fabric is gorgeous",
                "but the fit was very unflattering.",
                "Love it",
                "really"
            ]
        );
    }

    #[test]
    fn sentences_keep_their_words_as_written() {
        assert_eq!(
            sentences("Love it! The fabric is thin.\nRuns small"),
            ["Love it!", "The fabric is thin.", "Runs small"]
        );
        assert_eq!(singular("sleeves"), "sleeve");
        assert_eq!(singular("dresses"), "dress");
        assert_eq!(singular("dress"), "dress");
    }
}
