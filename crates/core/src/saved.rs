//! Models saved as JSON under the data directory: written to a side file and renamed over the
//! old one (a reader never sees half a file), read back as `None` when never saved, and refused
//! plainly when the file is of another version or damaged (so `clerk train` can replace it).

use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};

/// Why a saved model could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// The file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a model of this clerk version.
    #[error("{path} is not a model of this clerk version ({reason}): run `clerk train` again")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Saves `model` as `file` under `data_dir`.
pub fn save(data_dir: &Path, file: &str, model: &impl Serialize) -> Result<(), SavedError> {
    let path = data_dir.join(file);
    let io = |source| SavedError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let text = serde_json::to_string(model).map_err(|e| SavedError::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, &path).map_err(io)
}

/// Reads `file` under `data_dir`; `None` when it was never saved.
pub fn load<T: DeserializeOwned>(data_dir: &Path, file: &str) -> Result<Option<T>, SavedError> {
    let path = data_dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SavedError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SavedError::Format {
            path,
            reason: e.to_string(),
        })
}
