//! Importers of real store histories that are not in clerk's own `db.json` shape. Each reads a
//! file into records (reporting every bad row by its line number and skipping it), and the store
//! then loads them in one transaction, all or nothing ([`crate::store::Store::import`]).
//!
//! - [`ta_feng`]: the Ta-Feng supermarket's transaction lines (Nov 2000 – Feb 2001).
//! - [`reviews`]: product reviews (clerk's CSV, or the Women's E-Commerce Clothing Reviews).
//! - [`stock`]: items' stock counts and supplier lead times (updates of the catalog's items).

pub mod reviews;
pub mod stock;
pub mod ta_feng;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Why an import could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not in the expected format at all (its header, or no usable row).
    #[error("{0}")]
    Format(String),
}

/// A row an importer skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    /// The line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// A CSV reader over `input` (rows of any length) and its header's names, trimmed and without
/// a byte-order mark; `what` names the file's kind in the error when it has no header.
pub fn csv_with_header<R: std::io::Read>(
    input: R,
    what: &str,
) -> Result<(csv::Reader<R>, Vec<String>), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Format(format!("not a {what} file: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    Ok((reader, header))
}

/// Opens `path` for reading, decompressing it when its name ends in `.gz`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}
