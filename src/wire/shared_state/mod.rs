//! Shared state for fleets (feature `redis`): what several replicas must agree on, kept in one
//! Redis, so that they behave as one server.
//!
//! - [`RedisReplayStore`]: the DPoP replay store (RFC 9449 §11.1) of resource servers or gateways
//!   behind one load balancer; a proof used at one replica is refused at every other.
//! - [`RedisRefreshTokens`]: the refresh tokens of several
//!   [`AuthorizationServer`](crate::wire::AuthorizationServer)s, rotated atomically (RFC 9700
//!   §4.14.2): a token issued by one rotates once at any, and a reuse anywhere revokes its family.
//!
//! Both fail closed: when Redis cannot be reached or does not answer within the timeout
//! (default [`DEFAULT_REDIS_TIMEOUT`]), the request is refused, never accepted unchecked, and
//! they reconnect by themselves once Redis is back. A URL with credentials is accepted only from
//! a file or an environment variable, and is never shown with them (Debug, errors, logs).
//!
//! **Persistence.** A replay store needs none (after a restart of Redis, proofs seen before it
//! are forgotten, but each proof's window is short). Refresh tokens do: without persistence a
//! Redis restart forgets every refresh token, and clients must start over. Run Redis with
//! append-only persistence (`appendonly yes`, `appendfsync everysec` or `always`) and with
//! `maxmemory-policy noeviction`: an evicted record of a spent token would let its reuse pass
//! unnoticed. Every key expires with its token, so the store is bounded by the tokens' lifetimes
//! (not by a count per client, as the in-memory store is). One Redis (or a primary with
//! replicas), not a Redis Cluster: the scripts touch keys of one family together.

mod connection;
mod refresh;
mod replay;

pub use connection::DEFAULT_REDIS_TIMEOUT;
pub use refresh::RedisRefreshTokens;
pub use replay::RedisReplayStore;
