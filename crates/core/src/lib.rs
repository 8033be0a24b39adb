//! The Redis refresh-token session store, as plain Rust: configuration and input checks
//! ([`config`], [`input`]), the key layout ([`keys`]), the Lua scripts ([`scripts`]), the
//! operations ([`store`]) and garbage collection. No napi types: the addon's `src/lib.rs`
//! only converts values and maps [`StoreError`] to JavaScript errors.

pub mod admin;
pub mod audit;
pub mod config;
mod connection;
pub mod error;
mod gc;
pub mod input;
pub mod keys;
pub mod migrate;
pub mod scripts;
mod sentinel;
pub mod server;
pub mod store;

pub use admin::{Lineage, Session, Stats};
pub use config::StoreConfig;
pub use error::{Result, StoreError};
pub use input::Arg;
pub use migrate::MigrationReport;
pub use store::{GcReport, RefreshIssue, Rotated, SessionStore};
