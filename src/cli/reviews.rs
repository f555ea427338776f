//! `clerk import reviews` and `clerk sentiment`: reviews into the store, and the sentiment
//! model on the command line (score lines of text, or train on a reviews file).

use super::{EXIT_USAGE, load_with_reviews, report_bad_rows};
use crate::app::App;
use crate::config::Settings;
use clerk_core::import::reviews::ReviewFile;
use clerk_core::sentiment::train::{Example, Params};
use clerk_core::store::NewReview;
use clerk_core::store::model::StoreSnapshot;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Imports a reviews CSV. The clothing data set's garments and their reviews are imported as
/// the catalog, in one transaction (into an empty store, or replacing it with `replace`);
/// otherwise reviews of products the store does not have are reported by line and skipped, and
/// the rest added in one transaction (after the store's own, or instead of them with `replace`).
pub async fn import(settings: &Settings, file: &Path, replace: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut read = read_file(file)?;
    let app = App::open(settings).await?;
    if !read.products.is_empty() {
        // The clothing set: its garments and their reviews, in one transaction.
        let snapshot = StoreSnapshot {
            products: std::mem::take(&mut read.products),
            ..StoreSnapshot::default()
        };
        let reviews: Vec<NewReview> = read.rows.into_iter().map(|row| row.review).collect();
        report_bad_rows(file, &read.bad_rows);
        load_with_reviews(&app, &snapshot, &reviews, replace).await?;
        eprintln!(
            "{} reviews imported ({} in the store) from {} in {:.2} s",
            reviews.len(),
            app.store.review_count().await?,
            file.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let known = app.store.product_ids().await?;
    let mut reviews = Vec::with_capacity(read.rows.len());
    let mut unknown = Vec::new();
    for row in read.rows {
        if known.contains(&row.review.product_id) {
            reviews.push(row.review);
        } else {
            unknown.push(clerk_core::import::BadRow {
                line: row.line,
                reason: format!("no product {} in the store", row.review.product_id),
            });
        }
    }
    let mut bad_rows = read.bad_rows;
    bad_rows.extend(unknown);
    bad_rows.sort_by_key(|b| b.line);
    report_bad_rows(file, &bad_rows);
    if reviews.is_empty() {
        eprintln!("error: no review of a product in the store: nothing imported");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let total = app.store.add_reviews(&reviews, replace).await?;
    eprintln!(
        "{} reviews imported ({total} in the store) from {} in {:.2} s",
        reviews.len(),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a reviews CSV (gzipped or not) with a spinner.
fn read_file(file: &Path) -> anyhow::Result<ReviewFile> {
    let bar = indicatif::ProgressBar::new_spinner().with_message("reading reviews");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let read = clerk_core::import::reviews::read(clerk_core::import::open(file)?);
    bar.finish_and_clear();
    Ok(read?)
}

/// The labelled examples of a reviews CSV (stars → class), with the rows it skipped reported.
pub fn examples(file: &Path) -> anyhow::Result<Vec<Example>> {
    let read = read_file(file)?;
    report_bad_rows(file, &read.bad_rows);
    Ok(read
        .rows
        .into_iter()
        .map(|row| Example::rated(row.review.rating, row.review.title, row.review.text))
        .collect())
}

/// `clerk sentiment`: scores standard input line by line (as chat messages, or as reviews with
/// `review`), or trains on `train` and writes the model to `output` (by default the data
/// directory's).
pub async fn sentiment(
    settings: &Settings,
    review: bool,
    train: Option<&Path>,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if let Some(file) = train {
        let examples = examples(file)?;
        let bar = indicatif::ProgressBar::new_spinner()
            .with_message(format!("training on {} reviews", examples.len()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let source = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stage = bar.clone();
        let model = tokio::task::spawn_blocking(move || {
            clerk_core::sentiment::train::train_reporting(
                &examples,
                Params::default(),
                &source,
                &|what| stage.set_message(what),
            )
        })
        .await??;
        bar.finish_and_clear();
        let path = match output {
            Some(path) => {
                model.save_as(path)?;
                path.to_owned()
            }
            None => model.save(&settings.global.data_dir)?,
        };
        eprintln!("sentiment model saved to {}", path.display());
        println!("{}", serde_json::json!({ "sentiment": model.report }));
        return Ok(ExitCode::SUCCESS);
    }
    // Reviews are read with the store's tuned encoder when it has one (which runs on the
    // sentence-embedding model); messages never need it.
    let embedder = review
        .then(|| clerk_core::embed::Embedder::load_or_warn(&settings.global.embedding_model))
        .flatten();
    let model =
        clerk_core::sentiment::load_or_bundled(&settings.global.data_dir, embedder.as_ref());
    let lexicon = clerk_core::sentiment::lexicon::Lexicon::bundled();
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let line = line?;
        let sentiment = if review {
            model
                .review_sentiments(&[("", &line)])
                .pop()
                .expect("one reading per review")
        } else {
            lexicon.message(&line)
        };
        writeln!(stdout, "{}", serde_json::to_string(&sentiment)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
