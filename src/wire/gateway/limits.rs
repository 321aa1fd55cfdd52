//! What one client may hold: open connections, the size of a request head, and how long a
//! connection may wait on a client that stops sending (head, body, between requests) or stops
//! reading (response). The timers run in `framing::Framed`, which sees every byte each way; the
//! connection cap in the serve loop.

use std::time::Duration;

use crate::wire::transport::ConfigError;

/// Connections open at once, by default ([`Gateway::max_connections`](super::Gateway::max_connections)).
/// At the cap the gateway stops accepting: new connections wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The largest request head (request line and header fields), by default
/// ([`Gateway::max_head_size`](super::Gateway::max_head_size)); a longer one is 431 (RFC 6585 §5).
/// Room for a 2 KB token and ordinary headers, as in common proxies; a head that never ends pins
/// about twice this much memory until the header timeout.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 * 1024;

/// The smallest head limit accepted (hyper's smallest read buffer).
pub const MIN_MAX_HEAD_SIZE: usize = 8 * 1024;

/// The largest head limit accepted.
pub const MAX_MAX_HEAD_SIZE: usize = 1024 * 1024;

/// How long a client may take to send a whole request head, by default
/// ([`Gateway::header_timeout`](super::Gateway::header_timeout)); counted from the connection's
/// start for its first request, from the head's first byte for later ones.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may stop arriving, by default
/// ([`Gateway::body_timeout`](super::Gateway::body_timeout)).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a response write may make no progress (a client that stops reading), by default
/// ([`Gateway::write_timeout`](super::Gateway::write_timeout)).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a kept-alive connection may wait for its next request, by default
/// ([`Gateway::idle_timeout`](super::Gateway::idle_timeout)).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The bounds of one gateway; see the constants for each default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_head: usize,
    pub(super) header_timeout: Duration,
    pub(super) body_timeout: Duration,
    pub(super) write_timeout: Duration,
    pub(super) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_head: DEFAULT_MAX_HEAD_SIZE,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// A timeout must be positive: zero would close every connection at once.
pub(super) fn positive(option: &'static str, value: Duration) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::invalid(option, format!("{option} must be more than zero")));
    }
    Ok(value)
}
