//! Where clerk's scripts put what they fetch, and clerk looks for it by default: the models
//! (`scripts/fetch-model`) and the console's chart scripts (`scripts/fetch-charts`), under
//! `~/.cache/clerk`.

use std::path::PathBuf;

/// Where `scripts/fetch-model` puts the bundled model.
pub fn default_model_path() -> PathBuf {
    model_cache_dir().join("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
}

/// Where `scripts/fetch-model` puts the models it fetches: `$CLERK_MODEL_DIR`, by default
/// `~/.cache/clerk/models`.
pub fn model_cache_dir() -> PathBuf {
    std::env::var_os("CLERK_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/clerk/models"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/clerk/models"))
}

/// Where `scripts/fetch-charts` puts the chart scripts by default: `~/.cache/clerk/charts`.
pub fn default_chart_scripts() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/clerk/charts"))
        .unwrap_or_else(|| PathBuf::from(".cache/clerk/charts"))
}
