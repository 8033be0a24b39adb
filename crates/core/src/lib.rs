//! The Redis refresh-token session store, as plain Rust. Layers, bottom up; a module
//! uses only modules of its own layer or below (a test, `tests/layers.rs`, holds it):
//! - leaf rules: [`error`], [`limits`], [`input`], [`token`], `reply`;
//! - key layout and scripts: [`keys`], [`scripts`], [`commands`];
//! - configuration: [`config`];
//! - transport: `sentinel`, `connection`, [`server`] (the server check), [`store`] (the
//!   store and its one path to Redis), `scan` (SCAN over every primary);
//! - operations: [`sessions`], [`logouts`], [`lineage`];
//! - operator side: [`views`], [`stats`], [`gc`], [`audit`], [`migrate`].
//!
//! No napi types: the addon's `src/` only converts values and maps [`StoreError`] to
//! JavaScript errors.

pub mod audit;
pub mod commands;
pub mod config;
mod connection;
pub mod error;
pub mod gc;
pub mod input;
pub mod keys;
pub mod limits;
pub mod lineage;
pub mod logouts;
pub mod migrate;
mod reply;
mod scan;
pub mod scripts;
mod sentinel;
pub mod server;
pub mod sessions;
pub mod stats;
pub mod store;
pub mod token;
pub mod views;

pub use config::StoreConfig;
pub use error::{Result, StoreError};
pub use gc::GcReport;
pub use input::Arg;
pub use lineage::SessionInfo;
pub use migrate::MigrationReport;
pub use sessions::{RefreshIssue, RotateResult};
pub use stats::KeyspaceStats;
pub use store::SessionStore;
pub use views::LineageInfo;
