//! The store's own knowledge: a folder of help articles (Markdown, one per file), cut into
//! passages (a section's heading with its paragraph), searched by words (BM25, tantivy in
//! memory, English stop words removed) and, with the sentence model, by meaning, fused by
//! reciprocal rank as product search is. The folder is read again whenever a file in it is
//! added, changed or removed (checked at each search); passages whose text is unchanged keep
//! their vectors.

use crate::embed::{EmbedError, SharedEmbedder, dot};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{Index, TantivyDocument, Term, doc};

/// Passages returned at most.
const MAX_PASSAGES: usize = 3;
/// Characters of one passage at most (a longer paragraph is cut at a sentence end).
const MAX_PASSAGE: usize = 700;
/// The least cosine similarity for a passage to count as near a question.
const MIN_SIMILARITY: f32 = 0.35;
/// Reciprocal-rank fusion's constant.
const RRF_K: f32 = 60.0;

/// What can go wrong reading or searching the articles.
#[derive(Debug, thiserror::Error)]
pub enum HelpError {
    /// The folder or an article could not be read.
    #[error("cannot read the help articles in {path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The in-memory index failed.
    #[error("help index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The sentence model failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// One passage of an article.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    /// The article's title (its first `#` heading, else its file name).
    pub title: String,
    /// The article's file, relative to the folder.
    pub path: String,
    /// The section's heading, when the passage is under one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The passage's words.
    pub text: String,
}

/// The articles as last read, with their index.
struct Loaded {
    fingerprint: Vec<(PathBuf, u64, Option<SystemTime>)>,
    passages: Vec<Passage>,
    index: Index,
    vectors: Vec<Vec<f32>>,
}

/// A folder of help articles, searchable.
pub struct HelpArticles {
    dir: PathBuf,
    embedder: Option<SharedEmbedder>,
    loaded: Mutex<Option<Loaded>>,
    /// Vectors of passages seen before, by a hash of their text.
    known: Mutex<HashMap<u64, Vec<f32>>>,
}

impl std::fmt::Debug for HelpArticles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelpArticles")
            .field("dir", &self.dir)
            .field("hybrid", &self.embedder.is_some())
            .finish()
    }
}

impl HelpArticles {
    /// The articles in `dir`, searched by meaning too when `embedder` is given. Nothing is read
    /// before the first search.
    pub fn new(dir: &Path, embedder: Option<SharedEmbedder>) -> HelpArticles {
        HelpArticles {
            dir: dir.to_owned(),
            embedder,
            loaded: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The passages that best answer `query`, best first (none when nothing matches its words or
    /// comes near its meaning). Reads the folder again first if it changed.
    pub fn search(&self, query: &str) -> Result<Vec<Passage>, HelpError> {
        let fingerprint = self.fingerprint()?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.as_ref().map(|l| &l.fingerprint) != Some(&fingerprint) {
            *loaded = Some(self.load(fingerprint)?);
            tracing::info!(dir = %self.dir.display(), "help articles read");
        }
        let loaded = loaded.as_ref().expect("loaded just above");
        let mut scores: HashMap<usize, f32> = HashMap::new();
        for (rank, i) in by_words(&loaded.index, query)?.into_iter().enumerate() {
            *scores.entry(i).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
        if let Some(embedder) = &self.embedder {
            let question = embedder.embed_one(query)?;
            let mut near: Vec<(usize, f32)> = loaded
                .vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (i, dot(v, &question)))
                .filter(|(_, s)| *s >= MIN_SIMILARITY)
                .collect();
            near.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (rank, (i, _)) in near.into_iter().take(10).enumerate() {
                *scores.entry(i).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .take(MAX_PASSAGES)
            .map(|(i, _)| loaded.passages[i].clone())
            .collect())
    }

    /// Every article file with its size and modification time, sorted.
    fn fingerprint(&self) -> Result<Vec<(PathBuf, u64, Option<SystemTime>)>, HelpError> {
        let read = |path: &Path, source| HelpError::Read {
            path: path.to_owned(),
            source,
        };
        let mut files = Vec::new();
        let mut folders = vec![self.dir.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).map_err(|e| read(&folder, e))? {
                let entry = entry.map_err(|e| read(&folder, e))?;
                let path = entry.path();
                let meta = entry.metadata().map_err(|e| read(&path, e))?;
                if meta.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    files.push((path, meta.len(), meta.modified().ok()));
                }
            }
        }
        files.sort();
        Ok(files)
    }

    fn load(
        &self,
        fingerprint: Vec<(PathBuf, u64, Option<SystemTime>)>,
    ) -> Result<Loaded, HelpError> {
        let mut passages = Vec::new();
        for (path, _, _) in &fingerprint {
            // One article that cannot be read (not UTF-8, removed meanwhile) leaves the others
            // answering; the merchant learns of it from the log.
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "help article skipped");
                    continue;
                }
            };
            let relative = path.strip_prefix(&self.dir).unwrap_or(path);
            passages.extend(split(&relative.to_string_lossy(), &text));
        }
        let index = build_index(&passages)?;
        let vectors = match &self.embedder {
            Some(embedder) => self.vectors(embedder, &passages)?,
            None => Vec::new(),
        };
        Ok(Loaded {
            fingerprint,
            passages,
            index,
            vectors,
        })
    }

    /// The passages' vectors, computing only those not seen before.
    fn vectors(
        &self,
        embedder: &SharedEmbedder,
        passages: &[Passage],
    ) -> Result<Vec<Vec<f32>>, HelpError> {
        let texts: Vec<String> = passages.iter().map(passage_text).collect();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let (hashes, fresh) = embedder.embed_new(&texts, |key| known.contains_key(&key))?;
        for (i, vector) in fresh {
            known.insert(hashes[i], vector);
        }
        Ok(hashes.iter().map(|h| known[h].clone()).collect())
    }
}

/// What the sentence model reads of a passage: the article's title, the section and the text.
fn passage_text(passage: &Passage) -> String {
    match &passage.section {
        Some(section) => format!("{}. {section}. {}", passage.title, passage.text),
        None => format!("{}. {}", passage.title, passage.text),
    }
}

/// Cuts an article into passages: one per paragraph (a list counts as one), each under the
/// heading it follows; the title is the first `# ` heading, else the file name.
pub fn split(path: &str, markdown: &str) -> Vec<Passage> {
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
        .unwrap_or_default();
    let mut title = None;
    let mut section = None;
    let mut passages = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut flush =
        |paragraph: &mut Vec<&str>, title: &Option<String>, section: &Option<String>| {
            let text = paragraph
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            paragraph.clear();
            if !text.is_empty() {
                passages.push(Passage {
                    title: title.clone().unwrap_or_else(|| stem.clone()),
                    path: path.to_owned(),
                    section: section.clone(),
                    text: cut(&text),
                });
            }
        };
    for line in markdown.lines() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_prefix("# ") {
            flush(&mut paragraph, &title, &section);
            if title.is_none() {
                title = Some(heading.trim().to_owned());
            } else {
                section = Some(heading.trim().to_owned());
            }
        } else if trimmed.starts_with('#') {
            flush(&mut paragraph, &title, &section);
            section = Some(trimmed.trim_start_matches('#').trim().to_owned());
        } else if trimmed.is_empty() {
            flush(&mut paragraph, &title, &section);
        } else {
            paragraph.push(trimmed);
        }
    }
    flush(&mut paragraph, &title, &section);
    passages
}

/// A passage of at most [`MAX_PASSAGE`] characters, cut after the last whole sentence that fits.
fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_PASSAGE {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_PASSAGE).collect();
    match head.rfind(". ") {
        Some(end) => head[..=end].to_owned(),
        None => head,
    }
}

/// The tokenizer of the help index: words, lower-cased, English stop words dropped, stemmed.
fn analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop) => builder
            .filter(stop)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

fn build_index(passages: &[Passage]) -> Result<Index, HelpError> {
    let mut builder = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("help")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let position = builder.add_u64_field("position", STORED);
    let title = builder.add_text_field("title", words.clone());
    let text = builder.add_text_field("text", words);
    let index = Index::create_in_ram(builder.build());
    index.tokenizers().register("help", analyzer());
    let mut writer = index.writer_with_num_threads(1, 15_000_000)?;
    for (i, passage) in passages.iter().enumerate() {
        let heading = match &passage.section {
            Some(section) => format!("{} {section}", passage.title),
            None => passage.title.clone(),
        };
        writer.add_document(doc!(
            position => i as u64,
            title => heading,
            text => passage.text.as_str(),
        ))?;
    }
    writer.commit()?;
    Ok(index)
}

/// The passages the query's words match, best first.
fn by_words(index: &Index, query: &str) -> Result<Vec<usize>, HelpError> {
    let schema = index.schema();
    let (position, title, text) = (
        schema.get_field("position")?,
        schema.get_field("title")?,
        schema.get_field("text")?,
    );
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(query);
    while let Some(token) = stream.next() {
        // A letter alone ("s" of "what's") says nothing.
        if token.text.chars().count() < 2 {
            continue;
        }
        for field in [title, text] {
            clauses.push((
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, &token.text),
                    IndexRecordOption::WithFreqs,
                )),
            ));
        }
    }
    if clauses.is_empty() {
        return Ok(Vec::new());
    }
    let reader = index.reader()?;
    let searcher = reader.searcher();
    let top = searcher.search(
        &BooleanQuery::new(clauses),
        &TopDocs::with_limit(10).order_by_score(),
    )?;
    let mut found = Vec::new();
    for (_, address) in top {
        let document: TantivyDocument = searcher.doc(address)?;
        if let Some(i) = document.get_first(position).and_then(|v| v.as_u64()) {
            found.push(i as usize);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_is_cut_into_passages_under_its_headings() {
        let passages = split(
            "gift-cards.md",
            "# Gift cards\n\nA gift card is a payment method.\nIt has a balance.\n\n## Refunds\n\n- one\n- two\n",
        );
        assert_eq!(
            passages,
            vec![
                Passage {
                    title: "Gift cards".into(),
                    path: "gift-cards.md".into(),
                    section: None,
                    text: "A gift card is a payment method. It has a balance.".into(),
                },
                Passage {
                    title: "Gift cards".into(),
                    path: "gift-cards.md".into(),
                    section: Some("Refunds".into()),
                    text: "- one - two".into(),
                },
            ]
        );
        // Without a title, the file's name is the title.
        assert_eq!(
            split("sub/shipping-times.md", "We ship.")[0].title,
            "shipping times"
        );
    }

    #[test]
    fn words_find_the_passage_and_stop_words_alone_find_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gift-cards.md"),
            "# Gift cards\n\nA gift card pays for orders from its balance.\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("returns.md"),
            "# Returns\n\nDelivered orders can be returned.\n",
        )
        .unwrap();
        // An article that is not UTF-8 is skipped, not fatal to the others.
        std::fs::write(
            dir.path().join("broken.md"),
            [0xff, 0xfe, b'g', b'i', b'f', b't'],
        )
        .unwrap();
        let help = HelpArticles::new(dir.path(), None);
        let found = help.search("how do gift cards work?").unwrap();
        assert_eq!(found[0].path, "gift-cards.md");
        assert_eq!(found.len(), 1);
        assert!(help.search("how do I do it?").unwrap().is_empty());
    }
}
