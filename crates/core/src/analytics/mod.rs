//! The arithmetic of the merchant's analytics that is not a sum (the database does those,
//! [`crate::store::Store::sales_by`]): how a revenue change splits ([`change`]) and how
//! customers segment by recency, frequency and spend ([`customers`]), and the support figures
//! from the conversations ([`support`]). The tools that present
//! them are in `tools/analytics_tools.rs`; [`chart`] draws their results.

pub mod change;
pub mod chart;
pub mod customers;
pub mod support;
