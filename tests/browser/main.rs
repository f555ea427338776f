//! The web pages in headless Chromium (Debian's `chromium` and `chromium-driver`, which
//! `scripts/test` installs): the web chat, the staff console and the merchant's charts, as their
//! users click through them. A binary of their own: each drives a browser against timed waits,
//! which the CPU-bound tests of the other binaries would crowd.

#[path = "../common/mod.rs"]
mod common;

mod merchant_charts_browser;
mod staff_console_browser;
mod web_chat_browser;
