//! The pages' security headers: a Content-Security-Policy that lets run only the page's own
//! inline script and style (by their SHA-256), who may frame the page, and no caching.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

/// Who may show a page in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing<'a> {
    /// Nobody (the staff console).
    Never,
    /// Pages of clerk's own origin.
    SameOrigin,
    /// Pages of clerk's own origin and of these (the store's site embedding the chat).
    Origins(&'a [String]),
}

/// An HTML page with its security headers: a Content-Security-Policy that lets run only the
/// page's own inline script and style (by their SHA-256) and talk only to clerk's origin, says
/// who may frame it, `X-Frame-Options` for older browsers, and no caching.
pub fn html_page(html: &'static str, framing: Framing<'_>) -> Response {
    page(html, framing, "")
}

/// A page of the console that draws charts ([`clerk_core::analytics::chart`]): as [`html_page`],
/// never framed, and it may also load scripts and styles of clerk's own origin (the chart
/// scripts and their style under `/staff/charts/`) and let Vega compile its expressions
/// (`'unsafe-eval'`: Vega's one CSP-safe interpreter, the npm package vega-interpreter, ships
/// no browser build).
pub fn chart_page(html: &'static str) -> Response {
    page(html, Framing::Never, "'self' 'unsafe-eval' ")
}

/// `own` adds sources of clerk's own origin to the scripts' (and then `'self'` to the styles').
fn page(html: &'static str, framing: Framing<'_>, own: &str) -> Response {
    use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
    let (ancestors, frame_options) = match framing {
        Framing::Never => ("'none'".to_owned(), Some("DENY")),
        Framing::SameOrigin | Framing::Origins(&[]) => ("'self'".to_owned(), Some("SAMEORIGIN")),
        // X-Frame-Options cannot name other origins: browsers that know frame-ancestors (all
        // current ones) follow it instead.
        Framing::Origins(origins) => (format!("'self' {}", origins.join(" ")), None),
    };
    let policy = format!(
        "default-src 'none'; script-src {own}{}; style-src {}{}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}",
        inline_hashes(html, "script"),
        if own.is_empty() { "" } else { "'self' " },
        inline_hashes(html, "style"),
    );
    let mut response = axum::response::Html(html).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = policy.parse() {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    if let Some(frame_options) = frame_options {
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static(frame_options));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The CSP sources of a page's inline `<tag>` blocks: `'sha256-…'` each (`'none'` if none).
fn inline_hashes(html: &str, tag: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut sources = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else {
            break;
        };
        let digest = sha2::Sha256::digest(&body.as_bytes()[..end]);
        sources.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end..];
    }
    if sources.is_empty() {
        "'none'".to_owned()
    } else {
        sources.join(" ")
    }
}
