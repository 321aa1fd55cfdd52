//! DPoP (RFC 9449) at the library's token endpoint over a real socket on 127.0.0.1: a good proof
//! binds the minted token (`cnf.jkt`, `token_type: DPoP`), no proof gives an unbound Bearer
//! token, every bad proof is `invalid_dpop_proof`, the nonce flow, clients registered with
//! `dpop_bound_access_tokens`, refresh with a new key, a replay store that cannot answer, and the
//! metadata member.
#![cfg(feature = "axum")]

use crate::servers;

use std::sync::Arc;

use jwe_mint::dpop::{DpopKey, NonceSource, ReplayFuture, ReplayStore, ReplayStoreError};
use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{AuthorizationServer, AuthorizationServerBuilder, RegisteredClient};
use serde_json::Value;
use servers::bounded;

const SECRET: &str = "correct horse battery staple";
const PHOTOS: &str = "https://photos.example.com";

struct Setup {
    http: reqwest::Client,
    issuer: String,
    token_endpoint: String,
    photos_key: Jwk,
    as_public: JwkSet,
    _server: tokio::task::JoinHandle<()>,
}

/// The server with two clients: `photo-app` (DPoP optional) and `bound-app`
/// (`dpop_bound_access_tokens`), refresh tokens on; `configure` adds DPoP settings.
async fn setup(configure: impl FnOnce(AuthorizationServerBuilder) -> AuthorizationServerBuilder) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let photos_key = Jwk::generate(Curve::P256).unwrap();
    let mut registry = Registry::default();
    registry
        .insert(
            ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![photos_key.to_public().unwrap()]))
                .unwrap(),
        )
        .unwrap();
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let builder = AuthorizationServer::builder(Issuer::builder(&issuer, &as_key).registry(registry))
        .allow_refresh_tokens_for_client_credentials()
        .client(
            RegisteredClient::new("photo-app", SECRET, "alice")
                .unwrap()
                .scope("photos.read")
                .resources([PHOTOS])
                .home_resource(PHOTOS),
        )
        .unwrap()
        .client(
            RegisteredClient::new("bound-app", SECRET, "bob")
                .unwrap()
                .scope("photos.read")
                .resources([PHOTOS])
                .home_resource(PHOTOS)
                .dpop_bound_access_tokens(true),
        )
        .unwrap();
    let server = configure(builder).build().unwrap();
    let as_public = server.issuer().verification_keys().clone();
    let token_endpoint = server.token_endpoint().to_owned();
    let app = server.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Setup { http: reqwest::Client::new(), issuer, token_endpoint, photos_key, as_public, _server: task }
}

impl Setup {
    /// A token request of `client` with the `DPoP` header `proof`, if any.
    async fn post(&self, client: &str, form: &[(&str, &str)], proof: Option<&str>) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = self
            .http
            .post(&self.token_endpoint)
            .basic_auth(client, Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }

    /// A good proof of `key` for this token endpoint.
    fn proof(&self, key: &DpopKey) -> String {
        key.proof("POST", &self.token_endpoint).sign().unwrap()
    }

    fn open(&self, token: &str) -> AccessToken {
        ResourceServer::builder(PHOTOS, &self.issuer)
            .decryption_keys(JwkSet::new(vec![self.photos_key.clone()]))
            .issuer_keys(self.as_public.clone())
            .build()
            .unwrap()
            .open(token)
            .unwrap()
    }
}

const CC: (&str, &str) = ("grant_type", "client_credentials");

async fn ok_json(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// Status and RFC 6749 §5.2 `error`.
async fn refused(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    (status, body["error"].as_str().unwrap_or("(none: accepted)").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_proof_binds_the_token_and_none_gives_bearer() {
    bounded(async {
        let s = setup(|b| b).await;
        let key = DpopKey::generate().unwrap();
        let body = ok_json(s.post("photo-app", &[CC], Some(&s.proof(&key))).await).await;
        assert_eq!(body["token_type"], "DPoP", "RFC 9449 §5");
        let token = s.open(body["access_token"].as_str().unwrap());
        assert_eq!(token.dpop_jkt(), Some(key.thumbprint()), "cnf.jkt is the proof key's thumbprint");
        assert!(token.is_sender_constrained());

        let body = ok_json(s.post("photo-app", &[CC], None).await).await;
        assert_eq!(body["token_type"], "Bearer");
        let token = s.open(body["access_token"].as_str().unwrap());
        assert_eq!(token.dpop_jkt(), None);
        assert!(!token.is_sender_constrained());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proofs_are_invalid_dpop_proof() {
    bounded(async {
        let s = setup(|b| b).await;
        let key = DpopKey::generate().unwrap();
        let wrong_htu = key.proof("POST", &format!("{}/other", s.issuer)).sign().unwrap();
        let wrong_htm = key.proof("GET", &s.token_endpoint).sign().unwrap();
        let good = s.proof(&key);
        let (head, signature) = good.rsplit_once('.').unwrap();
        // Another key's signature over the same header and claims.
        let other = s.proof(&DpopKey::generate().unwrap());
        let bad_signature = format!("{head}.{}", other.rsplit_once('.').unwrap().1);
        assert_ne!(signature, other.rsplit_once('.').unwrap().1);
        for (why, proof) in [
            ("wrong htu", wrong_htu.as_str()),
            ("wrong htm", wrong_htm.as_str()),
            ("bad signature", bad_signature.as_str()),
            ("not a JWS", "not-a-proof"),
        ] {
            let r = s.post("photo-app", &[CC], Some(proof)).await;
            assert_eq!(r.headers()["cache-control"], "no-store");
            assert_eq!(refused(r).await, (400, "invalid_dpop_proof".to_owned()), "{why}");
        }
        // Replayed: the same proof accepted once, then refused.
        ok_json(s.post("photo-app", &[CC], Some(&good)).await).await;
        assert_eq!(
            refused(s.post("photo-app", &[CC], Some(&good)).await).await,
            (400, "invalid_dpop_proof".to_owned()),
            "replayed"
        );
    })
    .await;
}

/// A request this server refuses before any grant (no or an unknown `grant_type`) does not spend
/// its proof: only requests it would answer fill the replay store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_its_grant_does_not_spend_its_proof() {
    bounded(async {
        let s = setup(|b| b).await;
        let key = DpopKey::generate().unwrap();
        let proof = s.proof(&key);
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            refused(s.post("photo-app", &none, Some(&proof)).await).await,
            (400, "invalid_request".into())
        );
        let password = [("grant_type", "password")];
        assert_eq!(
            refused(s.post("photo-app", &password, Some(&proof)).await).await,
            (400, "unsupported_grant_type".into())
        );
        let body = ok_json(s.post("photo-app", &[CC], Some(&proof)).await).await;
        assert_eq!(body["token_type"], "DPoP", "the proof was still unused");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_asked_for_then_accepted() {
    bounded(async {
        let s = setup(|b| b.dpop_nonce(NonceSource::generate().unwrap())).await;
        let key = DpopKey::generate().unwrap();
        let first = s.post("photo-app", &[CC], Some(&s.proof(&key))).await;
        let nonce =
            first.headers().get("dpop-nonce").expect("RFC 9449 §8: DPoP-Nonce").to_str().unwrap().to_owned();
        assert_eq!(refused(first).await, (400, "use_dpop_nonce".to_owned()));
        let retry = key.proof("POST", &s.token_endpoint).nonce(&nonce).sign().unwrap();
        let r = s.post("photo-app", &[CC], Some(&retry)).await;
        assert!(r.headers().contains_key("dpop-nonce"), "a 200 carries the next nonce");
        let body = ok_json(r).await;
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(s.open(body["access_token"].as_str().unwrap()).dpop_jkt(), Some(key.thumbprint()));
        // A made-up nonce is refused the same way.
        let forged =
            key.proof("POST", &s.token_endpoint).nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").sign().unwrap();
        assert_eq!(refused(s.post("photo-app", &[CC], Some(&forged)).await).await.1, "use_dpop_nonce");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_bound_client_needs_a_proof_even_to_refresh() {
    bounded(async {
        let s = setup(|b| b).await;
        assert_eq!(
            refused(s.post("bound-app", &[CC], None).await).await,
            (400, "invalid_dpop_proof".to_owned())
        );
        let key = DpopKey::generate().unwrap();
        let body = ok_json(s.post("bound-app", &[CC], Some(&s.proof(&key))).await).await;
        assert_eq!(body["token_type"], "DPoP");
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        assert_eq!(
            refused(s.post("bound-app", &form, None).await).await,
            (400, "invalid_dpop_proof".to_owned())
        );
        // The refusal spent nothing: the refresh token still works with a proof.
        let body = ok_json(s.post("bound-app", &form, Some(&s.proof(&key))).await).await;
        assert_eq!(s.open(body["access_token"].as_str().unwrap()).dpop_jkt(), Some(key.thumbprint()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_binds_to_the_key_of_its_own_proof() {
    bounded(async {
        let s = setup(|b| b).await;
        let old = DpopKey::generate().unwrap();
        let body = ok_json(s.post("photo-app", &[CC], Some(&s.proof(&old))).await).await;
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let new = DpopKey::generate().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let body = ok_json(s.post("photo-app", &form, Some(&s.proof(&new))).await).await;
        assert_eq!(body["token_type"], "DPoP");
        let token = s.open(body["access_token"].as_str().unwrap());
        assert_eq!(token.dpop_jkt(), Some(new.thumbprint()));
        assert_ne!(token.dpop_jkt(), Some(old.thumbprint()));
    })
    .await;
}

/// A replay store that is always down.
#[derive(Debug)]
struct DownStore;

impl ReplayStore for DownStore {
    fn remember<'a>(&'a self, _key: &'a str, _until: i64, _now: i64) -> ReplayFuture<'a> {
        Box::pin(async { Err(ReplayStoreError::Unavailable("down".into())) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_store_that_cannot_answer_refuses_the_request() {
    bounded(async {
        let s = setup(|b| b.dpop_replay_store(Arc::new(DownStore))).await;
        let key = DpopKey::generate().unwrap();
        let r = s.post("photo-app", &[CC], Some(&s.proof(&key))).await;
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(refused(r).await, (503, "temporarily_unavailable".to_owned()));
        // A request without a proof needs no store.
        assert_eq!(ok_json(s.post("photo-app", &[CC], None).await).await["token_type"], "Bearer");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_publishes_the_proof_algorithms() {
    bounded(async {
        let s = setup(|b| b).await;
        let url = format!("{}/.well-known/oauth-authorization-server", s.issuer);
        let metadata: Value =
            serde_json::from_slice(&s.http.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap();
        let algs: Vec<&str> = metadata["dpop_signing_alg_values_supported"]
            .as_array()
            .expect("RFC 9449 §5.1")
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(algs.contains(&"ES256"), "{algs:?}");
        assert!(!algs.iter().any(|a| *a == "none" || a.starts_with("HS")), "{algs:?}");
    })
    .await;
}
