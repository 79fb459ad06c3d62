//! The mining crate's one integration-test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pm4py_reference;
mod rules;
