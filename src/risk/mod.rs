//! Risk: how likely a write a shopper asks for (a refund, a return, an exchange, an address or
//! payment change) is abuse. [`metrics`] scores a ranking of rare bad cases (AUPRC, recall at a
//! false-positive rate); `clerk bench fraud` measures the tree model on labelled card fraud with
//! them ([`crate::bench::fraud`]).

pub mod metrics;
