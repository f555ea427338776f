//! Product reviews as a merchant and a shopper meet them: the clothing reviews imported (the
//! garments becoming the catalog, rows without words reported by line and skipped), the
//! `review_summary` tool checked against counts made here from the file itself, quotes only
//! from the product's own reviews, a store's own sentiment model trained by `clerk train`,
//! saved and read again by the next process, and `clerk sentiment` on standard input.

use crate::common;

use clerk::store::Role;
use common::run_clerk;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    common::fixtures().join("reviews/clothing_sample.csv.gz")
}

/// The sample's reviews as (line, garment, rating, title, text), read here independently.
fn reviews() -> Vec<(u64, String, u8, String, String)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(sample()).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap();
            (
                i as u64 + 2,
                r[0].to_owned(),
                r[4].parse().unwrap(),
                r[2].to_owned(),
                r[3].to_owned(),
            )
        })
        .collect()
}

/// The sum of a report's counts by class.
fn class_sum(by_class: &Value) -> u64 {
    by_class
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

fn summary(dir: &Path, product: &str) -> Value {
    let args = json!({ "product_id": product }).to_string();
    let (code, stdout, stderr) = run_clerk(dir, &["tool", "review_summary", "--args", &args]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    serde_json::from_str(answer["output"].as_str().unwrap()).unwrap()
}

#[test]
fn clothing_reviews_import_and_summarise_from_their_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = sample().display().to_string();
    let all = reviews();
    let empty: Vec<u64> = all
        .iter()
        .filter(|r| r.3.is_empty() && r.4.is_empty())
        .map(|r| r.0)
        .collect();
    assert!(!empty.is_empty());

    let (code, _, stderr) = run_clerk(d, &["import", "reviews", &file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("{} rows skipped in all", empty.len())),
        "{stderr}"
    );
    // The first twenty are named by line.
    for line in empty.iter().take(20) {
        assert!(
            stderr.contains(&format!(
                "clothing_sample.csv.gz:{line}: skipped: neither a title nor a review text"
            )),
            "{stderr}"
        );
    }
    let kept = all.len() - empty.len();
    assert!(
        stderr.contains(&format!("{kept} reviews imported ({kept} in the store)")),
        "{stderr}"
    );

    // The dress's summary: the stars counted here from the file.
    let dress: Vec<_> = all
        .iter()
        .filter(|r| r.1 == "1080" && !(r.3.is_empty() && r.4.is_empty()))
        .collect();
    let mut stars: HashMap<String, usize> = HashMap::new();
    for r in &dress {
        *stars.entry(r.2.to_string()).or_default() += 1;
    }
    let out = summary(d, "1080");
    assert_eq!(out["product_id"], "1080");
    assert_eq!(out["name"], "Dresses 1080");
    assert_eq!(out["reviews"], dress.len());
    for n in 1..=5 {
        assert_eq!(
            out["ratings"][n.to_string()],
            stars.get(&n.to_string()).copied().unwrap_or(0),
            "{out}"
        );
    }
    let mean = dress.iter().map(|r| f64::from(r.2)).sum::<f64>() / dress.len() as f64;
    assert_eq!(out["average_rating"], (mean * 10.0).round() / 10.0);
    let shares = &out["sentiment"];
    let total: f64 = ["positive", "neutral", "negative"]
        .iter()
        .map(|k| shares[k].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 0.02, "{shares}");
    assert!(shares["positive"].as_f64().unwrap() > shares["negative"].as_f64().unwrap());

    // Aspects: found in the texts, each quote a real clause of this dress's own reviews.
    let aspects = out["aspects"].as_array().unwrap();
    assert!(aspects.len() >= 3, "{out}");
    let names: Vec<&str> = aspects
        .iter()
        .map(|a| a["aspect"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fit") || names.contains(&"size"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"dress"),
        "the product is not its own aspect: {names:?}"
    );
    let own: Vec<String> = dress.iter().map(|r| format!("{}\n{}", r.3, r.4)).collect();
    let others: Vec<String> = all
        .iter()
        .filter(|r| r.1 != "1080")
        .map(|r| format!("{}\n{}", r.3, r.4))
        .collect();
    let mut quotes = 0;
    for aspect in aspects {
        let reviews = aspect["reviews"].as_u64().unwrap();
        assert!(reviews >= 2 && reviews as usize <= dress.len());
        let (p, n) = (
            aspect["positive"].as_f64().unwrap(),
            aspect["negative"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&n) && p + n <= 1.0001);
        for side in ["positive_quote", "negative_quote"] {
            if let Some(quote) = aspect[side].as_str() {
                quotes += 1;
                assert!(own.iter().any(|t| t.contains(quote)), "{quote}");
                assert!(
                    !others.iter().any(|t| t.contains(quote)) || quote.len() < 30,
                    "a quote of another product's review: {quote}"
                );
                let word = aspect["aspect"].as_str().unwrap();
                assert!(quote.to_lowercase().contains(word), "{word}: {quote}");
            }
        }
    }
    assert!(quotes >= 3, "{out}");

    // Unknown products are refused plainly.
    let (code, stdout, _) = run_clerk(
        d,
        &[
            "tool",
            "review_summary",
            "--args",
            r#"{"product_id":"nope"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(stdout.trim()).unwrap(),
        json!({"ok": false, "error": "Product not found"})
    );

    // `clerk train` trains the store's own sentiment model (over 1,000 reviews), saves it, and
    // the next process reads it.
    let (code, stdout, stderr) = run_clerk(d, &["train"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    // The five garments embedded for hybrid search (the sentence model scripts/test fetches).
    assert_eq!(report["product_vectors"], 5, "{stderr}");
    assert!(d.join("index/vectors.bin").is_file());
    let sentiment = &report["sentiment"];
    assert_eq!(sentiment["source"], "store reviews");
    let by_class = class_sum(&sentiment["examples"]);
    assert_eq!(by_class as usize, kept);
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("data/models/sentiment.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["report"], *sentiment);
    assert_eq!(saved["format"], 1);
    let again = summary(d, "1080");
    assert_eq!(again["ratings"], out["ratings"]);
    assert!(again["aspects"].as_array().unwrap().len() >= 3);

    // A damaged model file stops nothing: the bundled model reads the reviews meanwhile.
    std::fs::write(
        d.join("data/models/sentiment.json"),
        b"{\"format\": 1, \"terms\"",
    )
    .unwrap();
    let fallback = summary(d, "1080");
    assert_eq!(fallback, out);
}

#[test]
fn clerk_sentiment_scores_each_line_of_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = common::run_clerk_with_input(
        dir.path(),
        &["sentiment"],
        "This is ridiculous, nobody answers and I'm furious.\nWhere is my order #W2378156?\nThank you so much, that was really helpful!\n",
    );
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let labels: Vec<&str> = lines.iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["negative", "neutral", "positive"]);
    assert!(lines[0]["score"].as_f64().unwrap() < -0.5);
    assert_eq!(lines[1]["score"], 0.0);
    assert!(lines[2]["score"].as_f64().unwrap() > 0.5);
}

#[test]
fn reviews_of_unknown_products_are_reported_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = common::fixtures()
        .join("tau2-retail/db.json")
        .display()
        .to_string();
    let (code, _, stderr) = run_clerk(d, &["import", "tau2-retail", &db]);
    assert_eq!(code, 0, "{stderr}");
    let csv = d.join("reviews.csv");
    std::fs::write(
        &csv,
        "product_id,user_id,rating,title,text,date\n\
         8310926033,yusuf_rossi_9620,2,Too loud,The water bottle leaks and the lid squeaks.,2026-11-02\n\
         0000000000,,5,Great,Love it,\n\
         8310926033,,6,Bad,Rating out of range,\n\
         8310926033,,5,Great bottle,Keeps my coffee hot all day.,\n",
    )
    .unwrap();
    let file = csv.display().to_string();
    let (code, _, stderr) = run_clerk(d, &["import", "reviews", &file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("reviews.csv:3: skipped: no product 0000000000 in the store")
            && stderr.contains("reviews.csv:4: skipped: rating \"6\" is not 1 to 5")
            && stderr.contains("2 reviews imported (2 in the store)"),
        "{stderr}"
    );
    // The clothing set is a whole catalog: into a store that has one, it is refused whole.
    let clothing = sample().display().to_string();
    let (code, _, stderr) = run_clerk(d, &["import", "reviews", &clothing]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--replace"), "{stderr}");
    let out = summary(d, "8310926033");
    assert_eq!(out["reviews"], 2);
    assert_eq!(
        out["ratings"],
        json!({"1": 0, "2": 1, "3": 0, "4": 0, "5": 1})
    );
    assert_eq!(out["average_rating"], 3.5);
    // The export of the store (the tau2 shape) is unchanged by reviews.
    let (code, stdout, _) = run_clerk(d, &["export", "tau2-retail"]);
    assert_eq!(code, 0);
    let exported: Value = serde_json::from_str(&stdout).unwrap();
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("tau2-retail/db.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(exported, original);
    // A product without reviews says so.
    let none = summary(d, "4760268021");
    assert_eq!(
        none,
        json!({"product_id": "4760268021", "name": "Laptop", "reviews": 0, "note": "this product has no reviews yet"})
    );
}

/// A shopper who asks what reviewers say of a product gets its summary without a model step,
/// and the reply that names what reviewers complain of is allowed (the quotes are tool output).
#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_asking_about_reviews_gets_the_products_summary() {
    use clerk_testkit::scripted::Scripted;
    let test = common::tau2_store(common::Db::Sqlite).await;
    let review = |rating: u8, text: &str| clerk::store::NewReview {
        product_id: "8310926033".into(),
        user_id: None,
        rating,
        title: String::new(),
        text: text.into(),
        placed_at: None,
    };
    test.store
        .add_reviews(
            &[
                review(1, "The lid leaks. The lid is flimsy and cracked in a week."),
                review(5, "Keeps water cold all day. The lid is sturdy."),
                review(
                    2,
                    "The lid was loose and it leaks everywhere, so disappointed.",
                ),
            ],
            false,
        )
        .await
        .unwrap();
    let (engine, model) = common::scripted_engine(&test);
    let id = engine
        .start("web", "shopper")
        .await
        .unwrap()
        .conversation_id;
    model.then([Scripted::reply(
        "Reviewers mostly complain that the lid leaks; one says it keeps water cold all day.",
    )]);
    let outcome = engine
        .turn(
            &id,
            "What do reviewers say about the water bottle?",
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.reply.as_deref(),
        Some("Reviewers mostly complain that the lid leaks; one says it keeps water cold all day.")
    );
    let messages = test.store.messages(&id).await.unwrap();
    let call = messages
        .iter()
        .find_map(|m| m.tool_call.as_deref())
        .expect("clerk called a tool");
    let call: Value = serde_json::from_str(call).unwrap();
    assert_eq!(call["name"], "review_summary");
    assert_eq!(call["arguments"], json!({"product_id": "8310926033"}));
    assert_eq!(call["by"], "clerk");
    let output: Value = serde_json::from_str(
        &messages
            .iter()
            .find(|m| m.role == Role::Tool)
            .unwrap()
            .content,
    )
    .unwrap();
    assert_eq!(output["reviews"], 3);
    assert_eq!(
        output["ratings"],
        json!({"1": 1, "2": 1, "3": 0, "4": 0, "5": 1})
    );
    assert_eq!(output["aspects"][0]["aspect"], "lid", "{output}");
    assert_eq!(output["aspects"][0]["reviews"], 3);
}

/// The test's reading of how clerk keys a review's text: its title, a full stop, its text.
fn review_key(title: &str, text: &str) -> u64 {
    let text = if title.trim().is_empty() {
        text.to_owned()
    } else {
        format!("{}. {text}", title.trim())
    };
    clerk::embed::text_key(&text)
}

#[test]
fn a_store_tunes_the_sentence_model_on_its_reviews_and_reads_them_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, stderr) = run_clerk(d, &["import", "reviews", &sample().display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let kept: Vec<_> = reviews()
        .into_iter()
        .filter(|r| !(r.3.is_empty() && r.4.is_empty()))
        .collect();
    let before = summary(d, "1080");

    // One pass over four fifths of the reviews (a real merchant runs the default two).
    let (code, stdout, stderr) = run_clerk(d, &["train", "--tune-encoder", "--tune-epochs", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sentiment encoder: tuned on"), "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    let tuned = &report["sentiment_encoder"];
    assert_eq!(tuned["source"], "store reviews");
    assert_eq!(tuned["epochs"], 1);
    let learned = class_sum(&tuned["examples"]);
    assert_eq!(
        learned + tuned["tuning_reviews"].as_u64().unwrap(),
        kept.len() as u64
    );
    let f1 = tuned["validation_macro_f1"].as_f64().unwrap();
    assert!(f1 > 0.3 && f1 <= 1.0, "{tuned}");
    assert!(d.join("data/models/sentiment-tuned.safetensors").is_file());
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("data/models/sentiment-tuned.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["report"], *tuned);

    // The next process reads the store's reviews as the tuned encoder did when it kept them:
    // the summary's shares are those readings' shares, for this garment's reviews.
    let readings: HashMap<u64, String> = saved["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap(),
                r[1]["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let garment: Vec<_> = kept.iter().filter(|r| r.1 == "1080").collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in &garment {
        let label = readings
            .get(&review_key(&r.3, &r.4))
            .unwrap_or_else(|| panic!("no reading kept for {r:?}"));
        *counts.entry(label.as_str()).or_default() += 1;
    }
    let after = summary(d, "1080");
    assert_eq!(after["ratings"], before["ratings"]);
    for label in ["negative", "neutral", "positive"] {
        let share = counts.get(label).copied().unwrap_or(0) as f64 / garment.len() as f64;
        let served = after["sentiment"][label].as_f64().unwrap();
        assert!(
            (served - (share * 100.0).round() / 100.0).abs() < 1e-9,
            "{label}: {after}"
        );
    }

    // A review the store has never seen is read by the encoder, as is any text on standard input.
    let unseen = "Returned it the next day. The fabric is cheap, the seams came apart and it looks nothing like the photo.\nAbsolutely love this dress! It fits perfectly, the fabric is soft and I get compliments every time.\n";
    let read = |d: &Path| -> Vec<Value> {
        let (code, stdout, stderr) =
            common::run_clerk_with_input(d, &["sentiment", "--review"], unseen);
        assert_eq!(code, 0, "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let tuned_read = read(d);
    assert_eq!(tuned_read.len(), 2);
    let score = |v: &Value| v["score"].as_f64().unwrap();
    assert!(score(&tuned_read[0]) < -0.1, "{tuned_read:?}");
    assert_eq!(tuned_read[1]["label"], "positive", "{tuned_read:?}");

    // Damaged weights stop nothing: the reviews are read by words meanwhile — differently,
    // which shows the encoder was reading them.
    std::fs::write(
        d.join("data/models/sentiment-tuned.safetensors"),
        b"not weights",
    )
    .unwrap();
    let fallback = summary(d, "1080");
    assert_eq!(fallback["ratings"], before["ratings"]);
    assert_eq!(fallback["reviews"], before["reviews"]);
    let words_read = read(d);
    assert_ne!(words_read, tuned_read);
    assert_eq!(words_read[1]["label"], "positive", "{words_read:?}");
}
