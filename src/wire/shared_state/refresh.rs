//! [`RedisRefreshTokens`]: the authorization server's refresh tokens in Redis, each change one
//! Lua script (atomic in Redis), so that several servers behave as one.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::connection::{Connection, Origin};
use crate::token::Scope;
use crate::wire::authorization_server::{
    RefreshGrant, RefreshStoreError, RefreshStoreFuture, RefreshTokenId, RefreshTokenStore,
};
use crate::wire::tracing_targets::TRACING_TARGET;
use crate::wire::transport::ConfigError;

/// The default prefix of the refresh-token keys.
const DEFAULT_PREFIX: &str = "jwe-mint:rt:";

/// Revokes the family of a spent token (`used` key → family → its live token), shared by the
/// scripts below: RFC 9700 §4.14.2, a spent token presented again means one of its two holders
/// stole it, so the live one is revoked too. 1 when a live token was revoked.
const REVOKE: &str = r"
local function revoke(used, base)
  local fam = redis.call('GET', used)
  if not fam then return 0 end
  local famkey = base .. 'fam:' .. fam
  local cur = redis.call('GET', famkey)
  if not cur then return 0 end
  redis.call('DEL', base .. 'live:' .. cur)
  redis.call('DEL', famkey)
  return 1
end
";

/// KEYS: live record of the new token, the sequence counter. ARGV: client base, new id (hex),
/// grant, expiry (ms since the epoch). A new family, named by the token's sequence number.
const ISSUE: &str = r"
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'seq', seq, 'fam', seq, 'grant', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('SET', ARGV[1] .. 'fam:' .. seq, ARGV[2], 'PXAT', ARGV[4])
return seq
";

/// KEYS: live record, spent record. ARGV: client base. `{seq, grant, exp}` when live, else
/// `{revoked}` ("1" or "0").
const FIND: &str = r"
local v = redis.call('HMGET', KEYS[1], 'seq', 'grant', 'exp')
if v[1] and v[2] and v[3] then return {v[1], v[2], v[3]} end
return {tostring(revoke(KEYS[2], ARGV[1]))}
";

/// KEYS: live record of the presented token, its spent record, live record of the successor,
/// the sequence counter. ARGV: client base, the generation found, the successor's id (hex).
/// 1 when rotated; 0 when not live as that generation; 2 when it was spent, and its family is
/// now revoked.
const ROTATE: &str = r"
local v = redis.call('HMGET', KEYS[1], 'seq', 'fam', 'grant', 'exp')
if (not v[1]) or v[1] ~= ARGV[2] or (not v[2]) or (not v[3]) or (not v[4]) then
  if revoke(KEYS[2], ARGV[1]) == 1 then return 2 end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], v[2], 'PXAT', v[4])
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[3], 'seq', seq, 'fam', v[2], 'grant', v[3], 'exp', v[4])
redis.call('PEXPIREAT', KEYS[3], v[4])
redis.call('SET', ARGV[1] .. 'fam:' .. v[2], ARGV[3], 'PXAT', v[4])
return 1
";

/// The authorization server's refresh tokens in Redis
/// ([`AuthorizationServerBuilder::refresh_token_store`](crate::wire::AuthorizationServerBuilder::refresh_token_store)),
/// shared by every server on the same Redis and prefix: a token issued by one rotates once at
/// any of them, and a spent token presented anywhere revokes its family (RFC 9700 §4.14.2).
///
/// Only SHA-256 digests of the tokens are stored, never their text, with the grant each stands
/// for (client, subject, scope, resources); every key expires with its family. Rotation and
/// revocation are each one Lua script, atomic in Redis. When Redis cannot be reached or does not
/// answer within the timeout ([`DEFAULT_REDIS_TIMEOUT`](super::DEFAULT_REDIS_TIMEOUT)), the token
/// request is refused with 503 `server_error`; the store reconnects by itself.
///
/// **Redis must persist** (`appendonly yes`) for refresh tokens to survive its restart, and must
/// not evict (`maxmemory-policy noeviction`): an evicted record of a spent token would let its
/// reuse pass unnoticed. One Redis (or a primary), not a Redis Cluster.
///
/// A URL with a user or password is accepted only by [`from_url_file`](Self::from_url_file) and
/// [`from_url_env`](Self::from_url_env); it shows redacted in `Debug` and errors.
pub struct RedisRefreshTokens {
    connection: Connection,
    prefix: String,
}

impl fmt::Debug for RedisRefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshTokens")
            .field("url", &self.connection.shown())
            .field("prefix", &self.prefix)
            .field("timeout", &self.connection.timeout)
            .finish()
    }
}

impl RedisRefreshTokens {
    /// The store at `url`, `redis://HOST[:PORT][/DB]` or `rediss://…` for TLS (no user or password: see
    /// [`from_url_file`](Self::from_url_file)). Nothing is connected yet. Refused
    /// ([`ConfigError::Invalid`] naming `"redis"`): another scheme, no host, a path other than a
    /// database number, a query, credentials.
    pub fn new(url: &str) -> Result<RedisRefreshTokens, ConfigError> {
        RedisRefreshTokens::open(url, Origin::Given)
    }

    /// The store at the URL in the file at `path` (trimmed), which may carry a user and password.
    pub fn from_url_file(path: impl AsRef<Path>) -> Result<RedisRefreshTokens, ConfigError> {
        let url = Connection::url_from_file(path.as_ref())?;
        RedisRefreshTokens::open(&url, Origin::Secret)
    }

    /// The store at the URL in the environment variable `name`, which may carry a user and
    /// password.
    pub fn from_url_env(name: &str) -> Result<RedisRefreshTokens, ConfigError> {
        let url = Connection::url_from_env(name)?;
        RedisRefreshTokens::open(&url, Origin::Secret)
    }

    fn open(url: &str, origin: Origin) -> Result<RedisRefreshTokens, ConfigError> {
        Ok(RedisRefreshTokens { connection: Connection::open(url, origin)?, prefix: DEFAULT_PREFIX.into() })
    }

    /// The prefix of every key (default `jwe-mint:rt:`).
    pub fn key_prefix(mut self, prefix: &str) -> RedisRefreshTokens {
        self.prefix = prefix.to_owned();
        self
    }

    /// For a `rediss://` URL: trust only the CA certificates of `pem` for the server's TLS
    /// certificate (by default the platform's roots). Refused ([`ConfigError::Invalid`] naming
    /// `"redis"`) for a `redis://` URL or a text without a PEM certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<RedisRefreshTokens, ConfigError> {
        self.connection = self.connection.trust_only(pem)?;
        Ok(self)
    }

    /// [`ca_pem`](Self::ca_pem) with the PEM file at `path`.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<RedisRefreshTokens, ConfigError> {
        self.connection = self.connection.trust_only_file(path.as_ref())?;
        Ok(self)
    }

    /// How long one operation may take, connecting included (default
    /// [`DEFAULT_REDIS_TIMEOUT`](super::DEFAULT_REDIS_TIMEOUT), at least 1 ms).
    pub fn timeout(mut self, timeout: Duration) -> RedisRefreshTokens {
        self.connection.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The keys of one client: a digest of its id, so that any id makes a plain key and one
    /// client's tokens are unknown to another (RFC 6749 §6).
    fn base(&self, client_id: &str) -> String {
        format!("{}{}:", self.prefix, hex(&crate::crypto::sha256(client_id.as_bytes())[..16]))
    }

    fn unavailable(&self, why: &str) -> RefreshStoreError {
        RefreshStoreError::Unavailable(format!("redis {}: {why}", self.connection.shown()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{REVOKE}{body}"))
}

fn encode(grant: &RefreshGrant) -> String {
    json!({
        "client_id": grant.client_id,
        "subject": grant.subject,
        "scope": grant.scope.to_string(),
        "resources": grant.resources,
    })
    .to_string()
}

fn decode(text: &str) -> Option<RefreshGrant> {
    let v: Value = serde_json::from_str(text).ok()?;
    let resources = v["resources"]
        .as_array()?
        .iter()
        .map(|r| r.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some(RefreshGrant::new(
        v["client_id"].as_str()?,
        v["subject"].as_str()?,
        Scope::parse(v["scope"].as_str()?).ok()?,
        resources,
    ))
}

impl RefreshTokenStore for RedisRefreshTokens {
    fn issue<'a>(
        &'a self,
        id: &'a RefreshTokenId,
        grant: RefreshGrant,
        expires: SystemTime,
    ) -> RefreshStoreFuture<'a, ()> {
        Box::pin(async move {
            let base = self.base(&grant.client_id);
            let script = script(ISSUE);
            let mut call = script.prepare_invoke();
            call.key(format!("{base}live:{}", hex(id)))
                .key(format!("{}seq", self.prefix))
                .arg(&base)
                .arg(hex(id))
                .arg(encode(&grant))
                .arg(millis(expires));
            let _seq: i64 = self
                .connection
                .run(|mut m| async move { call.invoke_async(&mut m).await })
                .await
                .map_err(|why| self.unavailable(&why))?;
            Ok(())
        })
    }

    fn find<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        now: SystemTime,
    ) -> RefreshStoreFuture<'a, Option<(Arc<RefreshGrant>, u64)>> {
        Box::pin(async move {
            let base = self.base(client_id);
            let script = script(FIND);
            let mut call = script.prepare_invoke();
            call.key(format!("{base}live:{}", hex(id))).key(format!("{base}used:{}", hex(id))).arg(&base);
            let reply: Vec<String> = self
                .connection
                .run(|mut m| async move { call.invoke_async(&mut m).await })
                .await
                .map_err(|why| self.unavailable(&why))?;
            match reply.as_slice() {
                [seq, grant, exp] => {
                    let seq: u64 = seq.parse().map_err(|_| self.unavailable("corrupt record"))?;
                    let exp: i64 = exp.parse().map_err(|_| self.unavailable("corrupt record"))?;
                    let grant = decode(grant).ok_or_else(|| self.unavailable("corrupt record"))?;
                    // Redis expires it on its own clock; this server's clock has the last word.
                    if exp <= millis(now) || grant.client_id != client_id {
                        return Ok(None);
                    }
                    Ok(Some((Arc::new(grant), seq)))
                }
                [revoked] => {
                    if revoked == "1" {
                        tracing::warn!(target: TRACING_TARGET, "a rotated refresh token was presented again; its family is revoked");
                    }
                    Ok(None)
                }
                _ => Err(self.unavailable("unexpected reply")),
            }
        })
    }

    fn rotate<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        seq: u64,
        next: &'a RefreshTokenId,
    ) -> RefreshStoreFuture<'a, bool> {
        Box::pin(async move {
            let base = self.base(client_id);
            let script = script(ROTATE);
            let mut call = script.prepare_invoke();
            call.key(format!("{base}live:{}", hex(id)))
                .key(format!("{base}used:{}", hex(id)))
                .key(format!("{base}live:{}", hex(next)))
                .key(format!("{}seq", self.prefix))
                .arg(&base)
                .arg(seq.to_string())
                .arg(hex(next));
            let rotated: i64 = self
                .connection
                .run(|mut m| async move { call.invoke_async(&mut m).await })
                .await
                .map_err(|why| self.unavailable(&why))?;
            if rotated == 2 {
                tracing::warn!(target: TRACING_TARGET, "a refresh token was spent concurrently; its family is revoked");
            }
            Ok(rotated == 1)
        })
    }
}
