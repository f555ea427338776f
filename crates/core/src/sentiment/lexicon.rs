//! The VADER lexicon (Hutto & Gilbert, 2014; MIT; `models/vader_lexicon.txt`, the file of PyPI
//! `vadersentiment` 3.3.2 unchanged, which `scripts/fetch-data vader` fetches and checks): each
//! word's valence summed, a word after a negation (within three words) turned by VADER's factor,
//! normalised to VADER's compound score, and cut at VADER's usual ±0.05. It is the core of VADER,
//! not its every rule (capitals, boosters, "but").
//!
//! It reads shoppers' chat messages: made for short, general text, it beats the review-trained
//! model there by far (`clerk bench sentiment`'s chat figures), while the model wins on reviews.

use super::text::{Token, tokens};
use super::{Label, Sentiment};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The lexicon clerk ships.
const BUNDLED: &str = include_str!("../../../../models/vader_lexicon.txt");

/// The sha256 of `vaderSentiment/vader_lexicon.txt` in PyPI `vadersentiment` 3.3.2.
pub const SHA256: &str = "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5";

/// VADER's factor for a negated word.
const NEGATION_FACTOR: f32 = -0.74;
/// VADER's normalisation constant.
const ALPHA: f32 = 15.0;

/// Words VADER treats as negations besides the model's ([`super::text::NEGATIONS`]).
const MORE_NEGATIONS: &[&str] = &["none", "nowhere", "neither", "without"];

fn negation(word: &str) -> bool {
    super::text::NEGATIONS.contains(&word) || MORE_NEGATIONS.contains(&word)
}

/// The VADER lexicon: each word's mean valence (-4 to 4).
#[derive(Debug, Clone)]
pub struct Lexicon {
    valence: HashMap<String, f32>,
}

impl Lexicon {
    /// The lexicon clerk ships, read once per process.
    pub fn bundled() -> Arc<Lexicon> {
        static LEXICON: OnceLock<Arc<Lexicon>> = OnceLock::new();
        LEXICON
            .get_or_init(|| {
                Arc::new(Lexicon::parse(BUNDLED).expect("the bundled lexicon is VADER's"))
            })
            .clone()
    }

    /// Reads `vader_lexicon.txt` (word, mean valence, standard deviation, ratings; tab-separated).
    fn parse(text: &str) -> Option<Lexicon> {
        let valence = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split('\t');
                let word = parts.next()?;
                let value = parts.next()?.trim().parse().ok()?;
                Some((word.to_owned(), value))
            })
            .collect::<HashMap<_, _>>();
        (valence.len() >= 1000).then_some(Lexicon { valence })
    }

    /// VADER's compound score of `text`, from -1 to 1.
    pub fn compound(&self, text: &str) -> f32 {
        let words: Vec<String> = tokens(text)
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                Token::Break => None,
            })
            .collect();
        let mut sum = 0.0;
        for (i, word) in words.iter().enumerate() {
            let Some(&valence) = self.valence.get(word.as_str()) else {
                continue;
            };
            let negated = words[i.saturating_sub(3)..i].iter().any(|w| negation(w));
            sum += if negated {
                valence * NEGATION_FACTOR
            } else {
                valence
            };
        }
        sum / (sum * sum + ALPHA).sqrt()
    }

    /// The class VADER's usual thresholds give `text`.
    pub fn label(&self, text: &str) -> Label {
        label_of(self.compound(text))
    }

    /// How a shopper's message reads: VADER's class and compound score.
    pub fn message(&self, text: &str) -> Sentiment {
        let compound = self.compound(text);
        Sentiment {
            label: label_of(compound),
            score: (compound * 1000.0).round() / 1000.0,
        }
    }
}

/// VADER's usual cut: at least 0.05 positive, at most -0.05 negative.
fn label_of(compound: f32) -> Label {
    if compound >= 0.05 {
        Label::Positive
    } else if compound <= -0.05 {
        Label::Negative
    } else {
        Label::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon {
            valence: [("love".to_owned(), 3.2), ("bad".to_owned(), -2.5)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn the_bundled_lexicon_is_vaders_file_unchanged() {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(BUNDLED.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, SHA256);
        let lexicon = Lexicon::bundled();
        assert!(lexicon.valence.len() > 7500);
        let upset = lexicon.message("This is ridiculous, I'm furious and nobody answers.");
        assert_eq!(upset.label, Label::Negative, "{upset:?}");
        let plain = lexicon.message("Where is my order #W2378156?");
        assert_eq!(plain.label, Label::Neutral, "{plain:?}");
    }

    #[test]
    fn valences_sum_and_negation_turns_them() {
        let lexicon = lexicon();
        assert_eq!(lexicon.label("I love it"), Label::Positive);
        assert_eq!(lexicon.label("not bad at all"), Label::Positive);
        assert_eq!(lexicon.label("it arrived on Tuesday"), Label::Neutral);
        let c = lexicon.compound("bad");
        assert!((c - (-2.5 / (6.25f32 + 15.0).sqrt())).abs() < 1e-6);
    }
}
