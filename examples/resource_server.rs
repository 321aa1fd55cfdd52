//! A resource server on axum guarded by jwe-mint's `BearerLayer`: it opens encrypted access tokens
//! locally with its own key, trusts one authorization server whose keys it discovers (RFC 8414)
//! and keeps fresh, serves its RFC 9728 metadata and `jwks_uri` so that AS can find its
//! encryption key, and answers RFC 6750 errors.
//!
//! ```sh
//! cargo run --example resource_server --features axum -- rs.json
//! ```
//! with `rs.json`:
//! ```json
//! { "listen": "127.0.0.1:9001", "resource": "http://127.0.0.1:9001",
//!   "key": "photos.jwk", "issuer": "http://127.0.0.1:9000", "scope": "photos.read",
//!   "allow_http": true }
//! ```
//!
//! Routes: `GET /` (any valid token: who is asking), `GET /photos` (needs the configured scope),
//! and the metadata documents. It serves plain HTTP and is meant for loopback: put TLS in front
//! of it in any real deployment.
#![allow(dead_code)] // also compiled into the tests, which use the router but not `main`
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use jwe_mint::jwk::JwkSet;
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{BearerLayer, Discovery, MetadataRouter};

/// The path the RS's JWK Set is served at.
pub const JWKS_PATH: &str = "/jwks.json";

/// The RS's routes for `resource`, opening tokens with `keys`, trusting `issuer` (discovered
/// through `discovery`); `/photos` requires `scope`. The `jwks_uri` is `origin` + [`JWKS_PATH`].
pub async fn app(
    resource: &str,
    keys: JwkSet,
    issuer: &str,
    scope: &str,
    discovery: &Discovery,
) -> jwe_mint::Result<Router> {
    let rs = discovery
        .resource_server(ResourceServer::builder(resource, issuer).decryption_keys(keys).cache(10_000))
        .await?;
    let origin = url::Url::parse(resource)
        .map_err(|_| jwe_mint::Error::Misuse(jwe_mint::Misuse::NotAbsoluteUri("resource")))?;
    let jwks_uri = format!("{}{JWKS_PATH}", origin.origin().ascii_serialization());
    let metadata = MetadataRouter::for_resource_server(&rs, &jwks_uri)?.scopes_supported([scope])?;
    let auth = BearerLayer::new(Arc::new(rs))?;
    Ok(Router::new()
        .route("/", get(whoami).layer(auth.clone()))
        .route("/photos", get(photos).layer(auth.require_scope(scope)?))
        .merge(metadata.router()))
}

async fn whoami(token: AccessToken) -> Json<Value> {
    Json(json!({
        "sub": token.subject(),
        "client_id": token.client_id(),
        "scope": token.scopes().collect::<Vec<_>>().join(" "),
    }))
}

async fn photos(token: AccessToken) -> Json<Value> {
    Json(json!({ "owner": token.subject(), "photos": ["beach.jpg", "mountain.jpg"] }))
}

/// The configuration file of `main`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: String,
    resource: String,
    key: String,
    issuer: String,
    scope: String,
    #[serde(default)]
    allow_http: bool,
    #[serde(default)]
    ca_file: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: resource_server CONFIG.json")?;
    let config: Config = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    // A JWK Set, or one JWK as `jwe-mint keygen` writes it.
    let text = std::fs::read_to_string(&config.key)?;
    let keys = match JwkSet::from_json(&text) {
        Ok(set) => set,
        Err(_) => JwkSet::new(vec![jwe_mint::jwk::Jwk::from_json(&text)?]),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut fetcher = jwe_mint::wire::HttpFetcher::builder().allow_http_loopback(config.allow_http);
        if let Some(ca) = &config.ca_file {
            fetcher = fetcher.add_ca_file(ca)?;
        }
        let discovery = Discovery::new(Arc::new(fetcher.build()?));
        let router = app(&config.resource, keys, &config.issuer, &config.scope, &discovery).await?;
        let listener = tokio::net::TcpListener::bind(&config.listen).await?;
        eprintln!("resource_server: {} on {}", config.resource, listener.local_addr()?);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
