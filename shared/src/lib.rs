//! referral-svc shared library: the domain (no AWS or Lambda types), the single-table
//! DynamoDB store behind a trait, typed configuration and telemetry set-up.
//!
//! Functions depend on this crate and keep their `main.rs` to wiring.

pub mod api;
pub mod config;
pub mod contracts;
pub mod decode;
pub mod domain;
pub mod events_cache;
pub mod ingest;
pub mod lambda;
pub mod partners;
pub mod payout;
pub mod queue;
pub mod share_link;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod time;

pub use domain::*;
