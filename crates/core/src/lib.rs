//! The Redis refresh-token session store, as plain Rust: configuration and input checks
//! ([`config`], [`input`]), the key layout ([`keys`]), the Lua scripts ([`scripts`]), the
//! operations ([`store`]), garbage collection ([`gc`]), the read-only operator views
//! ([`views`]) and keyspace statistics ([`stats`]), the latter three reading the keyspace
//! through one SCAN pager over every primary. No napi types: the addon's `src/lib.rs`
//! only converts values and maps [`StoreError`] to JavaScript errors.

pub mod audit;
pub mod commands;
pub mod config;
mod connection;
pub mod error;
pub mod gc;
pub mod input;
pub mod keys;
pub mod migrate;
mod reply;
mod scan;
pub mod scripts;
mod sentinel;
pub mod server;
pub mod stats;
pub mod store;
pub mod token;
pub mod views;

pub use config::StoreConfig;
pub use error::{Result, StoreError};
pub use gc::GcReport;
pub use input::Arg;
pub use migrate::MigrationReport;
pub use stats::KeyspaceStats;
pub use store::{RefreshIssue, RotateResult, SessionStore};
pub use views::{LineageInfo, SessionInfo};
