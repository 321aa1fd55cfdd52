//! The examples, run as tests over real HTTPS on 127.0.0.1: the authorization server of
//! `examples/authorization_server.rs` (the library's `wire::AuthorizationServer`) mints for two `examples/resource_server.rs` instances whose keys it discovered from their
//! resource identifiers alone (RFC 9728), the RSs discovered the AS keys from the issuer alone
//! (RFC 8414), and a client (reqwest) does the seed flows: one token per resource, the AS-assigned
//! resource, a refresh for the second resource, and the refusals; and a DPoP-bound client (RFC
//! 9449) registered from the example's configuration.
#![cfg(feature = "axum")]

#[path = "../../examples/authorization_server.rs"]
mod authorization_server;
#[path = "../../examples/resource_server.rs"]
mod resource_server;
use crate::servers;

use std::sync::Arc;

use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::wire::{AuthorizationServer, Discovery, ProtectedResourceDiscovery, RegisteredClient};
use serde_json::Value;
use servers::{bounded, free_origin, Pki, RouterServer};

const SECRET: &str = "correct horse battery staple";
/// A client registered with `dpop_bound_access_tokens` (RFC 9449 §5.2).
const DPOP_CLIENT: &str = "photo-cli";

struct World {
    client: reqwest::Client,
    token_endpoint: String,
    photos: String,
    friends: String,
    _servers: Vec<RouterServer>,
}

async fn world(pki: &Pki) -> World {
    let (as_addr, issuer) = free_origin();
    let (photos_addr, photos) = free_origin();
    let (friends_addr, friends) = free_origin();
    let discovery = || Discovery::new(Arc::new(pki.fetcher()));

    let mut registry = Registry::default();
    registry.insert(ResourceEntry::discovered(&photos, ["photos.read", "photos.write"]).unwrap()).unwrap();
    registry.insert(ResourceEntry::discovered(&friends, ["friends.read"]).unwrap()).unwrap();
    // The clients as the example's configuration file names them.
    let configured = |client: Value| -> RegisteredClient {
        let config: authorization_server::ClientConfig = serde_json::from_value(client).unwrap();
        config.registered(SECRET).unwrap()
    };
    let client = configured(serde_json::json!({
        "client_id": "photo-app", "client_secret_file": "unused", "subject": "alice",
        "scope": "photos.read friends.read", "resources": [photos, friends], "home_resource": photos,
    }));
    let dpop_client = configured(serde_json::json!({
        "client_id": DPOP_CLIENT, "client_secret_file": "unused", "subject": "alice",
        "scope": "photos.read", "resources": [photos], "dpop_bound_access_tokens": true,
    }));
    let resources = ProtectedResourceDiscovery::new(discovery(), &issuer);
    let as_key = Jwk::generate(Curve::P256).unwrap();
    // The RSs are not up yet: the AS starts with both entries unbound.
    let server = AuthorizationServer::new(&issuer, &as_key, registry, vec![client, dpop_client], &resources)
        .await
        .unwrap();
    let mut servers = vec![RouterServer::start(pki, as_addr, Arc::clone(&server).router()).await];

    for (addr, resource, curve, scope) in [
        (photos_addr, &photos, Curve::P256, "photos.read"),
        (friends_addr, &friends, Curve::X25519, "friends.read"),
    ] {
        let keys = JwkSet::new(vec![Jwk::generate(curve).unwrap()]);
        let app = resource_server::app(resource, keys, &issuer, scope, &discovery()).await.unwrap();
        servers.push(RouterServer::start(pki, addr, app).await);
    }
    assert!(server.bind_resources(&resources).await.is_empty(), "both RSs bound once up");

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    World { client, token_endpoint: format!("{issuer}/token"), photos, friends, _servers: servers }
}

impl World {
    async fn token_request(&self, form: &[(&str, &str)], secret: &str) -> reqwest::Response {
        self.token_request_as("photo-app", form, secret, None).await
    }

    /// A token request of `client_id`, with a `DPoP` proof when given.
    async fn token_request_as(
        &self,
        client_id: &str,
        form: &[(&str, &str)],
        secret: &str,
        dpop: Option<&str>,
    ) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = self
            .client
            .post(&self.token_endpoint)
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        request.body(body).send().await.unwrap()
    }

    async fn get(&self, url: &str, token: &str) -> reqwest::Response {
        self.client.get(url).bearer_auth(token).send().await.unwrap()
    }

    /// GET `url` with `Authorization: DPoP <token>` and a proof of `key` for it (RFC 9449 §7.1).
    async fn get_dpop(&self, url: &str, token: &str, key: &jwe_mint::dpop::DpopKey) -> reqwest::Response {
        let proof = key.proof("GET", url).access_token(token).sign().unwrap();
        let request = self.client.get(url).header("authorization", format!("DPoP {token}"));
        request.header("dpop", proof).send().await.unwrap()
    }
}

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flows_over_https() {
    bounded(async {
        let pki = Pki::new();
        let w = world(&pki).await;

        // One request, two resources: one token each, each opened only by its own RS.
        let r = w
            .token_request(
                &[("grant_type", "client_credentials"), ("resource", &w.photos), ("resource", &w.friends)],
                SECRET,
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = json(r).await;
        let tokens = body["access_tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 2);
        let token_for = |res: &str| {
            tokens.iter().find(|t| t["resource"] == res).unwrap()["access_token"].as_str().unwrap().to_owned()
        };
        let (photos_token, friends_token) = (token_for(&w.photos), token_for(&w.friends));
        let r = w.get(&format!("{}/photos", w.photos), &photos_token).await;
        assert_eq!(r.status(), 200);
        assert_eq!(json(r).await["owner"], "alice");
        let r = w.get(&format!("{}/", w.friends), &friends_token).await;
        assert_eq!(json(r).await["scope"], "friends.read");
        // Replayed at the other RS: refused.
        for (url, token) in [(&w.friends, &photos_token), (&w.photos, &friends_token)] {
            let r = w.get(&format!("{url}/"), token).await;
            assert_eq!(r.status(), 401);
            assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
        }

        // No resource named: the AS picks the client's home RS and says which.
        let r =
            w.token_request(&[("grant_type", "client_credentials"), ("scope", "photos.read")], SECRET).await;
        let body = json(r).await;
        assert_eq!(body["resource"], w.photos.as_str());
        let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(
            w.get(&format!("{}/photos", w.photos), body["access_token"].as_str().unwrap()).await.status(),
            200
        );

        // A refresh for a resource of the original grant (RFC 8707 §2.2).
        let first = w
            .token_request(
                &[("grant_type", "client_credentials"), ("resource", &w.photos), ("resource", &w.friends)],
                SECRET,
            )
            .await;
        let refresh_both = json(first).await["refresh_token"].as_str().unwrap().to_owned();
        let r = w
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_both),
                    ("resource", &w.friends),
                ],
                SECRET,
            )
            .await;
        let body = json(r).await;
        assert_eq!(body["resource"], w.friends.as_str());
        assert_eq!(
            w.get(&format!("{}/", w.friends), body["access_token"].as_str().unwrap()).await.status(),
            200
        );

        // Refusals, each with its RFC 6749 §5.2 code.
        let r = w
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                    ("resource", &w.friends),
                ],
                SECRET,
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(json(r).await["error"], "invalid_target", "friends was not in that grant");
        let r = w.token_request(&[("grant_type", "client_credentials")], "wrong").await;
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(json(r).await["error"], "invalid_client");
        let r = w
            .token_request(
                &[("grant_type", "client_credentials"), ("resource", "https://evil.example")],
                SECRET,
            )
            .await;
        // A resource this client may not have, registered or not (no registry enumeration).
        assert_eq!(json(r).await["error"], "unauthorized_client");
        let r = w.token_request(&[("grant_type", "password")], SECRET).await;
        assert_eq!(json(r).await["error"], "unsupported_grant_type");
        let r = w.token_request(&[("grant_type", "client_credentials"), ("scope", "admin")], SECRET).await;
        assert_eq!(json(r).await["error"], "invalid_scope");
        let r = w
            .token_request(&[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], SECRET)
            .await;
        assert_eq!(json(r).await["error"], "invalid_request");

        // No token at the RS: 401 pointing at its metadata, which names the AS.
        let r = w.client.get(format!("{}/photos", w.photos)).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains("resource_metadata=\"") && challenge.contains("scope=\"photos.read\""),
            "{challenge}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_bound_client_gets_tokens_only_with_a_proof_and_uses_them_only_with_one() {
    bounded(async {
        let pki = Pki::new();
        let w = world(&pki).await;
        let form = [("grant_type", "client_credentials"), ("resource", w.photos.as_str())];
        // dpop_bound_access_tokens: no proof, no token.
        let r = w.token_request_as(DPOP_CLIENT, &form, SECRET, None).await;
        assert_eq!(r.status(), 400);
        assert_eq!(json(r).await["error"], "invalid_dpop_proof");

        // A proof of the token endpoint (RFC 9449 §4.3: POST, its URL): a token bound to the key.
        let key = jwe_mint::dpop::DpopKey::generate().unwrap();
        let proof = key.proof("POST", &w.token_endpoint).sign().unwrap();
        let r = w.token_request_as(DPOP_CLIENT, &form, SECRET, Some(&proof)).await;
        assert_eq!(r.status(), 200);
        let body = json(r).await;
        assert_eq!(body["token_type"], "DPoP", "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();

        // At the RS: with a proof of the same key for this request (§7.1, `ath`), accepted.
        let url = format!("{}/photos", w.photos);
        let r = w.get_dpop(&url, &token, &key).await;
        assert_eq!(r.status(), 200);
        assert_eq!(json(r).await["owner"], "alice");
        // As a Bearer token, or with another key's proof: refused.
        assert_eq!(w.get(&url, &token).await.status(), 401);
        let r = w.get_dpop(&url, &token, &jwe_mint::dpop::DpopKey::generate().unwrap()).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "), "{r:?}");
    })
    .await
}
