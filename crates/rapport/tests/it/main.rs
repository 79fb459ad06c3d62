#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Rapport's one integration test binary (each extra `tests/*.rs` would be another binary
//! to link). The store and use-case suites run on SQLite and, when `DATABASE_URL` points
//! at a PostgreSQL server, on PostgreSQL too; `RAPPORT_REQUIRE_POSTGRES=1` (set by CI)
//! turns a missing PostgreSQL into a failure instead of a skip.

mod admin;
mod api;
mod chat;
mod cli;
mod consumers;
mod imap;
mod initiatives;
mod kpi;
mod kpi_days;
mod lead;
mod mail;
mod process_log;
mod process_page;
mod sla;
mod support;
mod surveys;
mod ui;
mod ui_live;
mod use_cases;
