//! An OAuth authorization server on axum that mints jwe-mint access tokens: RFC 8414 metadata, its
//! `jwks_uri`, and a token endpoint (RFC 6749 §3.2) for `client_credentials` and `refresh_token`
//! with one or several RFC 8707 `resource` parameters, clients authenticated with
//! `client_secret_basic` (RFC 6749 §2.3.1). Resource servers registered without keys are found
//! through their RFC 9728 metadata (`jwe_mint::wire::ProtectedResourceDiscovery`).
//!
//! ```sh
//! cargo run --example authorization_server --features axum -- as.json
//! ```
//! with `as.json`:
//! ```json
//! { "listen": "127.0.0.1:9000", "issuer": "http://127.0.0.1:9000",
//!   "signing_key": "as.jwk", "registry": "registry.json", "allow_http": true,
//!   "clients": [ { "client_id": "photo-app", "client_secret_file": "photo-app.secret",
//!                  "subject": "alice", "scope": "photos.read friends.read",
//!                  "resources": ["https://photos.example.com", "https://friends.example.com"],
//!                  "home_resource": "https://photos.example.com" },
//!                { "client_id": "photo-cli", "client_secret_file": "photo-cli.secret",
//!                  "subject": "alice", "scope": "photos.read",
//!                  "resources": ["https://photos.example.com"],
//!                  "dpop_bound_access_tokens": true } ] }
//! ```
//!
//! DPoP (RFC 9449): a token request carrying a `DPoP` proof of the token endpoint gets tokens
//! bound to the proof's key (`token_type` `DPoP`, `cnf.jkt` in the token), which a resource
//! server accepts only as `Authorization: DPoP` with a proof of that key, as the
//! `resource_server` example does through `BearerLayer`. A client registered with
//! `"dpop_bound_access_tokens": true` (RFC 9449 §5.2) is refused any token without a proof
//! (`invalid_dpop_proof`); the others may ask for either kind.
//!
//! It serves plain HTTP and is meant for loopback: put TLS in front of it in any real deployment.
//! Deliberate shortcuts of an example: clients and refresh tokens live in memory (refresh tokens
//! rotate on every use, RFC 9700 §4.14.2); a client acts for one configured `subject` (standing in
//! for an authorization-code grant), and its `client_credentials` response carries a refresh token
//! so the RFC 8707 §2.2 path (a token for another resource from the refresh token) can be shown.
//!
//! The server itself is the library's `jwe_mint::wire::AuthorizationServer`; this file reads the
//! configuration, builds it, keeps binding RSs that were down at startup, and serves it.
//!
//! Errors are RFC 6749 §5.2 JSON (`invalid_client` with `WWW-Authenticate: Basic`,
//! `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_scope`,
//! `invalid_target`, `unauthorized_client`). When an RS's keys cannot be fetched the answer is
//! HTTP 503 with `Retry-After` and `{"error": "server_error"}`; when none of its keys is usable,
//! HTTP 500 with the same body. RFC 6749 §5.2 has no code for these: `server_error` is borrowed
//! from §4.1.2.1, an extension, never an unencrypted token.
#![allow(dead_code)] // also compiled into the tests, which use `registered_client` but not `main`
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

use std::sync::Arc;

use jwe_mint::jwk::Jwk;
use jwe_mint::registry::Registry;
use jwe_mint::wire::{AuthorizationServer, ConfigError, ProtectedResourceDiscovery, RegisteredClient};

/// The configuration file of `main`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: String,
    issuer: String,
    signing_key: String,
    registry: String,
    #[serde(default)]
    allow_http: bool,
    #[serde(default)]
    ca_file: Option<String>,
    clients: Vec<ClientConfig>,
}

/// One client of the configuration file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    client_id: String,
    client_secret_file: String,
    subject: String,
    scope: String,
    resources: Vec<String>,
    #[serde(default)]
    home_resource: Option<String>,
    /// RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
}

impl ClientConfig {
    /// The client as the server registers it, with its secret (read from `client_secret_file`).
    pub fn registered(&self, secret: &str) -> Result<RegisteredClient, ConfigError> {
        let client = RegisteredClient::new(&self.client_id, secret, &self.subject)?
            .scope(&self.scope)
            .resources(self.resources.iter().map(String::as_str))
            .dpop_bound_access_tokens(self.dpop_bound_access_tokens);
        Ok(match &self.home_resource {
            Some(home) => client.home_resource(home),
            None => client,
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: authorization_server CONFIG.json")?;
    let config: Config = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let signing_key = Jwk::from_json(&std::fs::read_to_string(&config.signing_key)?)?;
    let registry = Registry::from_json(&std::fs::read_to_string(&config.registry)?)?;
    let mut clients = Vec::new();
    for c in config.clients {
        let secret = zeroize::Zeroizing::new(std::fs::read_to_string(&c.client_secret_file)?);
        clients.push(c.registered(secret.trim_end())?);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut fetcher = jwe_mint::wire::HttpFetcher::builder().allow_http_loopback(config.allow_http);
        if let Some(ca) = &config.ca_file {
            fetcher = fetcher.add_ca_file(ca)?;
        }
        let discovery = jwe_mint::wire::Discovery::new(Arc::new(fetcher.build()?));
        let resources = ProtectedResourceDiscovery::new(discovery, &config.issuer);
        let mut builder = AuthorizationServer::builder(
            jwe_mint::issuer::Issuer::builder(&config.issuer, &signing_key).registry(registry),
        )
        .allow_refresh_tokens_for_client_credentials();
        for client in clients {
            builder = builder.client(client)?;
        }
        let server = builder.build()?;
        // Resource servers that are down now are bound when they come up.
        let report = |failed: Vec<(String, jwe_mint::wire::WireError)>| {
            for (resource, e) in &failed {
                eprintln!("authorization_server: keys of {resource} not fetched yet: {e}");
            }
            failed.is_empty()
        };
        if !report(server.bind_resources(&resources).await) {
            let binder = Arc::clone(&server);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    if report(binder.bind_resources(&resources).await) {
                        break;
                    }
                }
            });
        }
        let listener = tokio::net::TcpListener::bind(&config.listen).await?;
        eprintln!("authorization_server: {} on {}", config.issuer, listener.local_addr()?);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum::serve(listener, server.router()).with_graceful_shutdown(shutdown).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
