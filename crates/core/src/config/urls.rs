//! The server URLs the store accepts, and the TLS material that goes with a rediss:// one.

use redis::io::tcp::TcpSettings;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::{Result, StoreError};
use crate::input::Arg;

/// TLS material given in `cfg.tls` (PEM text): a CA to trust instead of the system's
/// roots, and a client certificate with its key for servers that ask for one.
#[derive(Clone, Default)]
pub struct TlsMaterial {
    pub ca: Option<Vec<u8>>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsMaterial {
    // Never prints a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").field("ca", &self.ca.is_some()).field("client", &self.client.is_some()).finish()
    }
}

impl TlsMaterial {
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .clone()
                .map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key }),
            root_cert: self.ca.clone(),
        }
    }

    /// `info` with this CA and client certificate when it is a TLS address (rediss://),
    /// else as it is: for connections the store makes to addresses it learns or is given
    /// besides `cfg.url` (Sentinels, and the primary they name).
    pub fn applied_to(&self, info: ConnectionInfo) -> redis::RedisResult<ConnectionInfo> {
        if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            return Ok(info);
        }
        Ok(redis::Client::build_with_tls(info, self.certificates())?.get_connection_info().clone())
    }
}

/// `cfg.tls`: `{ ca?, cert?, key? }`, PEM text; only with a rediss:// URL.
pub(super) fn tls_material(value: &Arg, url: &ConnectionInfo) -> Result<Option<TlsMaterial>> {
    if matches!(value, Arg::Undefined) {
        return Ok(None);
    }
    if !matches!(value, Arg::Object(_)) {
        return Err(StoreError::invalid("cfg.tls", "an object { ca?, cert?, key? } of PEM strings", &value.kind()));
    }
    if !matches!(url.addr(), ConnectionAddr::TcpTls { .. }) {
        return Err(StoreError::invalid("cfg.tls", "given only with a rediss:// URL", "a URL without TLS"));
    }
    let pem = |name: &str| match value.field(name) {
        Arg::Undefined => Ok(None),
        Arg::String(s) if s.contains("-----BEGIN") => Ok(Some(s.clone().into_bytes())),
        other => Err(StoreError::invalid(&format!("cfg.tls.{name}"), "PEM text (-----BEGIN ...)", &other.kind())),
    };
    let client = match (pem("cert")?, pem("key")?) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(StoreError::invalid("cfg.tls.cert and cfg.tls.key", "given together", "only one")),
    };
    Ok(Some(TlsMaterial { ca: pem("ca")?, client }))
}

/// Parses the URL forms the original's client accepts for a single server, with
/// TCP_NODELAY on: every call is one small request awaiting its reply, which Nagle's
/// algorithm would otherwise hold back.
pub(super) fn connection_info(name: &str, url: &str) -> Result<ConnectionInfo> {
    let invalid = || StoreError::invalid(name, "a redis://, rediss:// or unix:// URL", "an unparsable URL");
    let target = if url.starts_with('/') { format!("unix://{url}") } else { url.to_string() };
    let scheme_ok = ["redis://", "rediss://", "unix://", "redis+unix://"].iter().any(|s| target.starts_with(s));
    if !scheme_ok {
        return Err(invalid());
    }
    let info = target.as_str().into_connection_info().map_err(|_| invalid())?;
    if matches!(info.addr(), ConnectionAddr::Tcp(host, _) if host.is_empty()) {
        return Err(invalid());
    }
    // A session store must not talk to an unverified server: `#insecure` (skip the
    // certificate check) is refused here rather than failing every call later.
    if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
        return Err(StoreError::invalid(
            name,
            "a URL without #insecure: rediss:// certificates are always verified (add a private CA with SSL_CERT_FILE)",
            "#insecure",
        ));
    }
    // No CLIENT SETINFO after connecting: Redis 7.2+ and Valkey want `+client|setinfo` in
    // an ACL user's rule for it (and log a denial without), which Redis 7.0 refuses to
    // even name, so one rule could not serve every supported server.
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    Ok(info.set_redis_settings(settings).set_tcp_settings(TcpSettings::default().set_nodelay(true)))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::cfg;
    use crate::config::StoreConfig;

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for url in ["", "http://x", "localhost:6379", "redis://"] {
            let err = StoreConfig::from_arg(&cfg(url)).unwrap_err();
            assert!(err.is_type_error(), "{url}");
            assert!(err.to_string().starts_with("cfg.url must be"), "{err}");
        }
        let err = StoreConfig::from_arg(&cfg("http://user:s3cret@h")).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn refuses_unverified_tls() {
        let err = StoreConfig::from_arg(&cfg("rediss://h:6380/#insecure")).unwrap_err();
        assert!(err.is_type_error());
        assert!(err.to_string().contains("certificates are always verified"), "{err}");
    }
}
