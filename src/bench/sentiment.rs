//! `clerk bench sentiment`: the sentiment model on the Women's E-Commerce Clothing Reviews (a
//! stratified 80/20 split with a fixed seed; 1–2 stars negative, 3 neutral, 4–5 positive),
//! beside two peers in the same run on the same split: the VADER lexicon and TF-IDF + logistic
//! regression (linfa, the same solver clerk's model uses, without its negation marks, title
//! field and tuned offsets). Macro-F1 and accuracy on the reviews held out, then on the short
//! chat messages of `fixtures/sentiment/chat_messages.tsv` (written for clerk, labelled by
//! hand). The figures there are why clerk reads shoppers' messages with the lexicon and reviews
//! with the model. Where the sentence model is installed, the same split also measures what
//! `clerk train --tune-encoder` makes ([`clerk_core::sentiment::tuned`]): its top layers fine-tuned,
//! alone and combined with a TF-IDF model.

use super::search::{Latency, latency};
use clerk_core::embed::Embedder;
use clerk_core::import::reviews;
use clerk_core::sentiment::lexicon::Lexicon;
use clerk_core::sentiment::train::{
    Example, Params, accuracy, f1, macro_f1, stratified_split, train,
};
use clerk_core::sentiment::tuned::{
    TuneProgress, Tuned, TunedParams, TunedReport, mix, review_text, tune, word_log_probabilities,
};
use clerk_core::sentiment::{Label, SentimentModel};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The split's seed.
pub const SEED: u64 = 42;

/// The chat messages, labelled by hand.
pub const CHAT_MESSAGES: &str = include_str!("../../fixtures/sentiment/chat_messages.tsv");

/// One method's scores on one test set.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// What it is.
    pub method: &'static str,
    /// The mean of the three classes' F1.
    pub macro_f1: f64,
    /// The share right.
    pub accuracy: f64,
    /// F1 of negative, neutral, positive.
    pub f1_by_class: [f64; 3],
}

/// What `clerk bench sentiment` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    /// The build profile (latency is meaningful in `release`).
    pub profile: &'static str,
    /// The machine's available parallelism.
    pub threads: usize,
    /// The reviews file read.
    pub data: String,
    /// Reviews read (rows without a title or a text are skipped).
    pub reviews: usize,
    /// Reviews trained on and tested on, by class (negative, neutral, positive).
    pub train_by_class: [usize; 3],
    /// Reviews held out, by class.
    pub test_by_class: [usize; 3],
    /// Seconds clerk's model took to train (offsets tuned included).
    pub train_seconds: f64,
    /// Seconds the TF-IDF baseline took.
    pub baseline_train_seconds: f64,
    /// Scoring one chat message with clerk's model.
    pub latency: Latency,
    /// On the held-out reviews, clerk's first.
    pub reviews_scores: Vec<Scores>,
    /// On the chat messages, clerk's first.
    pub chat_scores: Vec<Scores>,
    /// Chat messages scored.
    pub chat_messages: usize,
    /// The fine-tuned encoder, alone and combined with the TF-IDF model (absent when the
    /// embedding model is not there).
    pub tuned: Option<TunedResults>,
}

/// What the fine-tuned encoder measured: [`tune`] — what `clerk train --tune-encoder` runs — on
/// the training reviews (the encoder and a TF-IDF model learn from four fifths, their
/// combination is chosen on the last fifth), then scored on the same held-out reviews as the rest.
#[derive(Debug, Clone, Serialize)]
pub struct TunedResults {
    /// What tuning saw and measured on its own held-out fifth.
    pub report: TunedReport,
    /// The encoder's share in the combination (the TF-IDF model's is the rest).
    pub encoder_weight: f32,
    /// The per-class offsets added (negative, neutral, positive).
    pub offsets: [f32; 3],
    /// Milliseconds reading one held-out review with the encoder (all six layers), batched.
    pub ms_per_review: f64,
    /// On the held-out reviews: the combination (clerk's reader of reviews when tuned), the
    /// encoder alone (its most likely class), the TF-IDF model of the four fifths alone.
    pub reviews_scores: Vec<Scores>,
}

fn scores(method: &'static str, truth: &[usize], predicted: &[usize]) -> Scores {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    Scores {
        method,
        macro_f1: round(macro_f1(truth, predicted)),
        accuracy: round(accuracy(truth, predicted)),
        f1_by_class: [0, 1, 2].map(|c| round(f1(truth, predicted, c))),
    }
}

/// The hand-labelled chat messages.
pub fn chat_examples() -> Vec<Example> {
    CHAT_MESSAGES
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (label, text) = line.split_once('\t')?;
            let label = Label::ALL.into_iter().find(|l| l.name() == label)?;
            Some(Example {
                title: String::new(),
                text: text.to_owned(),
                label,
            })
        })
        .collect()
}

/// Runs the bench on the reviews file `data`.
pub fn run(data: &Path) -> anyhow::Result<BenchResults> {
    let lexicon = Lexicon::bundled();
    let file = reviews::read(clerk_core::import::open(data)?)?;
    let examples: Vec<Example> = file
        .rows
        .into_iter()
        .map(|row| Example::rated(row.review.rating, row.review.title, row.review.text))
        .collect();
    let labels: Vec<usize> = examples.iter().map(|e| e.label.index()).collect();
    let (train_ix, test_ix) = stratified_split(&labels, 0.2, SEED);
    let train_set: Vec<Example> = train_ix.iter().map(|&i| examples[i].clone()).collect();
    let test_set: Vec<&Example> = test_ix.iter().map(|&i| &examples[i]).collect();
    let by_class = |set: &[usize]| {
        let mut n = [0usize; 3];
        for &i in set {
            n[labels[i]] += 1;
        }
        n
    };

    eprintln!("training clerk's model on {} reviews", train_set.len());
    let started = Instant::now();
    let model = train(&train_set, Params::default(), "bench split")?;
    let train_seconds = started.elapsed().as_secs_f64();
    eprintln!("training the TF-IDF + logistic regression baseline");
    let started = Instant::now();
    let baseline = train(&train_set, Params::tf_idf_baseline(), "bench split")?;
    let baseline_train_seconds = started.elapsed().as_secs_f64();

    let evaluate = |set: &[&Example]| -> Vec<Scores> {
        let truth: Vec<usize> = set.iter().map(|e| e.label.index()).collect();
        let predict = |m: &SentimentModel| -> Vec<usize> {
            set.iter()
                .map(|e| m.score(&e.title, &e.text).label.index())
                .collect()
        };
        let vader: Vec<usize> = set
            .iter()
            .map(|e| lexicon.label(&format!("{} {}", e.title, e.text)).index())
            .collect();
        vec![
            scores("clerk", &truth, &predict(&model)),
            scores("tf-idf + logistic regression", &truth, &predict(&baseline)),
            scores(
                "vader lexicon (clerk's reader of chat messages)",
                &truth,
                &vader,
            ),
        ]
    };
    let chat = chat_examples();
    let chat_refs: Vec<&Example> = chat.iter().collect();
    let mut texts = chat.iter().map(|e| e.text.as_str()).cycle();
    let samples = (0..2000)
        .map(|_| {
            let text = texts.next().expect("cycled");
            let started = Instant::now();
            std::hint::black_box(model.score("", text));
            started.elapsed()
        })
        .collect();
    let latency = latency(samples);
    Ok(BenchResults {
        profile: super::profile(),
        threads: super::threads(),
        data: data.display().to_string(),
        reviews: examples.len(),
        train_by_class: by_class(&train_ix),
        test_by_class: by_class(&test_ix),
        train_seconds: (train_seconds * 100.0).round() / 100.0,
        baseline_train_seconds: (baseline_train_seconds * 100.0).round() / 100.0,
        latency,
        reviews_scores: evaluate(&test_set),
        chat_scores: evaluate(&chat_refs),
        chat_messages: chat.len(),
        tuned: match Embedder::load(&clerk_core::embed::default_dir()) {
            Ok(embedder) => Some(tuned(&embedder, &train_set, &test_set)?),
            Err(error) => {
                eprintln!("no fine-tuned encoder: {error}");
                None
            }
        },
    })
}

/// The fine-tuned encoder, alone and combined with the TF-IDF model.
fn tuned(
    embedder: &Embedder,
    train_set: &[Example],
    test_set: &[&Example],
) -> anyhow::Result<TunedResults> {
    let report = |p: TuneProgress| match p {
        TuneProgress::Words => eprintln!("encoder: training the TF-IDF model beside it"),
        TuneProgress::Keeping => {}
        TuneProgress::Reading(done, of) if done % 2048 < 256 || done == of => {
            eprintln!("encoder: reading {done}/{of}")
        }
        TuneProgress::Step(done, of, loss) if done % 100 == 0 || done == of => {
            eprintln!("encoder: step {done}/{of} loss {loss:.4}")
        }
        _ => {}
    };
    let Tuned {
        reader,
        combination,
    } = tune(
        embedder,
        train_set,
        TunedParams::default(),
        "bench split",
        false,
        &report,
    )?;
    eprintln!("encoder: reading the {} held-out reviews", test_set.len());
    let started = Instant::now();
    let texts: Vec<String> = test_set
        .iter()
        .map(|e| review_text(&e.title, &e.text))
        .collect();
    let encoder = reader.log_probabilities(embedder, &texts)?;
    let ms_per_review = started.elapsed().as_secs_f64() * 1000.0 / test_set.len() as f64;
    let words: Vec<[f32; 3]> = test_set
        .iter()
        .map(|e| word_log_probabilities(&combination.words, &e.title, &e.text))
        .collect();
    let truth: Vec<usize> = test_set.iter().map(|e| e.label.index()).collect();
    let (weight, offsets) = (combination.encoder_weight, combination.offsets);
    let predict = |weight: f32, offsets: [f32; 3]| -> Vec<usize> {
        encoder
            .iter()
            .zip(&words)
            .map(|(e, w)| mix(e, w, weight, offsets).index())
            .collect()
    };
    let words_alone: Vec<usize> = test_set
        .iter()
        .map(|e| combination.words.score(&e.title, &e.text).label.index())
        .collect();
    Ok(TunedResults {
        report: combination.report.clone(),
        encoder_weight: weight,
        offsets,
        ms_per_review: (ms_per_review * 100.0).round() / 100.0,
        reviews_scores: vec![
            scores(
                "clerk, tuned: the encoder + its TF-IDF model",
                &truth,
                &predict(weight, offsets),
            ),
            scores("the tuned encoder alone", &truth, &predict(1.0, [0.0; 3])),
            scores("its TF-IDF model alone (four fifths)", &truth, &words_alone),
        ],
    })
}
