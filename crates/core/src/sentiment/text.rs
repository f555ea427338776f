//! Text as the sentiment model reads it: lower-cased words, with the words after a negation
//! ("not", "didn't", "never"…) marked up to the next punctuation ("not_fit"), as unigrams and
//! bigrams of two fields (a review's title, prefixed `t:`, and its text), weighted by TF-IDF and
//! scaled to unit length per field.

use std::collections::HashMap;

/// The words that turn the meaning of the words after them.
pub(super) const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "nothing",
    "nor",
    "cannot",
    "don't",
    "didn't",
    "doesn't",
    "isn't",
    "wasn't",
    "aren't",
    "weren't",
    "won't",
    "wouldn't",
    "couldn't",
    "can't",
    "shouldn't",
    "hasn't",
    "haven't",
    "hadn't",
    "dont",
    "didnt",
    "doesnt",
    "isnt",
    "wasnt",
    "cant",
    "wont",
];

/// One token of a text: a lower-cased word, or a punctuation mark that ends a clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word (letters, digits and inner apostrophes).
    Word(String),
    /// `.`, `,`, `!`, `?`, `;` or `:`.
    Break,
}

/// Splits `text` into lower-cased words and clause breaks (curly apostrophes read as straight).
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        let trimmed = word.trim_matches('\'');
        if !trimmed.is_empty() {
            out.push(Token::Word(trimmed.to_owned()));
        }
        word.clear();
    };
    for c in text.chars() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
            if matches!(c, '.' | ',' | '!' | '?' | ';' | ':') {
                out.push(Token::Break);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The words of `text`, the ones in a negation's scope prefixed `not_`; a break ends a scope
/// and is kept as `None` (so that bigrams never span one).
pub fn marked_words(text: &str, negation: bool) -> Vec<Option<String>> {
    let mut negated = false;
    tokens(text)
        .into_iter()
        .map(|token| match token {
            Token::Break => {
                negated = false;
                None
            }
            Token::Word(word) => {
                let marked = if negated {
                    format!("not_{word}")
                } else {
                    word.clone()
                };
                if negation && NEGATIONS.contains(&word.as_str()) {
                    negated = true;
                }
                Some(marked)
            }
        })
        .collect()
}

/// How a text is turned into terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Featurizer {
    /// Mark the words after a negation.
    pub negation: bool,
    /// Keep a review's title as its own field (`t:` terms); otherwise it is read as the first
    /// sentence of the text.
    pub title_field: bool,
}

/// The terms of one field and how often each occurs.
pub type TermCounts = HashMap<String, u32>;

impl Featurizer {
    /// The term counts of a review's fields (title, text); a chat message is a text without a
    /// title.
    pub fn fields(&self, title: &str, text: &str) -> [TermCounts; 2] {
        if self.title_field {
            [self.terms(title, "t:"), self.terms(text, "")]
        } else if title.trim().is_empty() {
            [TermCounts::new(), self.terms(text, "")]
        } else {
            [
                TermCounts::new(),
                self.terms(&format!("{title}. {text}"), ""),
            ]
        }
    }

    /// Unigrams and bigrams of `text`, each prefixed by `prefix`.
    fn terms(&self, text: &str, prefix: &str) -> TermCounts {
        let words = marked_words(text, self.negation);
        let mut counts = TermCounts::new();
        for (i, word) in words.iter().enumerate() {
            let Some(word) = word else { continue };
            *counts.entry(format!("{prefix}{word}")).or_default() += 1;
            if let Some(Some(next)) = words.get(i + 1) {
                *counts.entry(format!("{prefix}{word} {next}")).or_default() += 1;
            }
        }
        counts
    }
}

/// TF-IDF of one field's counts over a vocabulary: `(feature, weight)` pairs with sublinear term
/// frequency (`1 + ln tf`), scaled to unit length.
pub fn tf_idf(counts: &TermCounts, index: &HashMap<String, u32>, idf: &[f32]) -> Vec<(u32, f32)> {
    let mut weights: Vec<(u32, f32)> = counts
        .iter()
        .filter_map(|(term, &n)| {
            let &feature = index.get(term)?;
            Some((feature, (1.0 + (n as f32).ln()) * idf[feature as usize]))
        })
        .collect();
    // In feature order before summing: the same text gives the same bits on every run.
    weights.sort_by_key(|(feature, _)| *feature);
    let norm = weights.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut weights {
            *w /= norm;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_marks_the_words_up_to_the_next_break() {
        let words: Vec<_> = marked_words("It didn't fit, but I love it!", true)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(words, ["it", "didn't", "not_fit", "but", "i", "love", "it"]);
    }

    #[test]
    fn bigrams_do_not_span_a_break_and_titles_are_their_own_field() {
        let featurizer = Featurizer {
            negation: true,
            title_field: true,
        };
        let [title, text] = featurizer.fields("Love it", "Soft. Warm");
        assert_eq!(title.get("t:love it"), Some(&1));
        assert_eq!(text.get("soft"), Some(&1));
        assert_eq!(text.get("soft warm"), None);
    }

    #[test]
    fn tf_idf_is_unit_length_and_skips_unknown_terms() {
        let index: HashMap<String, u32> = [("soft".to_owned(), 0), ("warm".to_owned(), 1)].into();
        let counts: TermCounts = [("soft".to_owned(), 2), ("itchy".to_owned(), 1)].into();
        let v = tf_idf(&counts, &index, &[1.5, 2.0]);
        assert_eq!(v.len(), 1);
        assert!((v[0].1 - 1.0).abs() < 1e-6);
    }
}
