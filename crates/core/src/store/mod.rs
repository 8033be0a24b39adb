//! The store: its configuration, key layout and one connection, and the path every
//! operation takes to Redis (`runner`): each state change is one script call on one
//! multiplexed connection shared by all calls (per node, on a cluster), reconnecting by
//! itself. The operations themselves live in the modules above this one.

use std::sync::Mutex;

use crate::config::StoreConfig;
use crate::connection::Link;
use crate::error::{ErrorTarget, Result, StoreError};
use crate::keys::KeyLayout;
use crate::server::ServerCheck;

mod runner;

enum Connection {
    /// Not connected yet: the first call connects, so creating a store never fails
    /// because the server is unreachable.
    Pending,
    Open(Link),
    Closed,
}

pub struct SessionStore {
    config: StoreConfig,
    pub(crate) layout: KeyLayout,
    /// ARGV[5] of every script: the layout's mode, then the hardening options, if any.
    mode_arg: String,
    connection: Mutex<Connection>,
    server: ServerCheck,
    /// What error messages say about the server.
    error_target: ErrorTarget,
}

impl SessionStore {
    pub fn new(config: StoreConfig) -> Self {
        let layout =
            if config.is_cluster() { KeyLayout::cluster(&config.prefix) } else { KeyLayout::new(&config.prefix) };
        let layout = layout.with_tokens(config.tokens, config.tag_secret.as_ref().map(|s| s.0.as_slice()));
        // With keyed tags the scripts cannot compute a user's tag: they take it from the
        // keys they are given (every key of one call is in that user's slot).
        let keyed = if layout.keyed_tags() { ";keyed=true" } else { "" };
        let mode_arg = format!("{}{}{keyed}", layout.script_args()[4], config.hardening.script_text());
        SessionStore {
            error_target: config.error_target(),
            config,
            layout,
            mode_arg,
            connection: Mutex::new(Connection::Pending),
            server: Default::default(),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The shared connection, once the server behind it is one the store supports
    /// (checked at first use). Must be called from within a Tokio runtime.
    pub(crate) async fn connection(&self) -> Result<Link> {
        let mut connection = self.open_connection()?;
        self.server.ensure(&mut connection, |e| self.error(e)).await?;
        Ok(connection)
    }

    fn open_connection(&self) -> Result<Link> {
        let mut state = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*state {
            Connection::Open(link) => Ok(link.clone()),
            Connection::Closed => Err(StoreError::Closed),
            Connection::Pending => {
                let link = Link::open(&self.config).map_err(|e| self.error(e))?;
                *state = Connection::Open(link.clone());
                Ok(link)
            }
        }
    }

    /// Drops the connection; later calls reject with `StoreError::Closed`. Calls already
    /// running finish on their own handle.
    pub fn close(&self) {
        *self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Connection::Closed;
    }

    pub(crate) fn error(&self, err: redis::RedisError) -> StoreError {
        StoreError::from_redis(err, &self.error_target)
    }
}
