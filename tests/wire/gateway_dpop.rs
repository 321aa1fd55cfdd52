//! DPoP at the resource server (RFC 9449 §7), through the real gateway on real sockets: a bound
//! token with a good proof passes and the upstream learns the key; every way a proof can be
//! wrong is its own refusal, with its challenge; nonces, `require_dpop`, the metadata, the
//! metrics and forward-auth.
#![cfg(feature = "gateway")]

use std::sync::Arc;

use base64::Engine as _;
use jwe_mint::dpop::{DpopKey, NonceSource, ReplayFuture, ReplayStore, ReplayStoreError};
use jwe_mint::wire::Gateway;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::gateway_world::*;

const URL: &str = "https://api.example.com";

struct Dpop {
    world: World,
    key: DpopKey,
    token: String,
}

impl Dpop {
    fn new() -> Dpop {
        let world = World::new();
        let key = DpopKey::generate().unwrap();
        let token = world.mint_bound(key.thumbprint());
        Dpop { world, key, token }
    }

    /// A good proof for `GET <URL><path>` with this token.
    fn proof(&self, path: &str) -> String {
        self.key.proof("GET", &format!("{URL}{path}")).access_token(&self.token).sign().unwrap()
    }
}

/// A gateway in front of a recording upstream.
async fn gateway(
    world: &World,
    configure: impl FnOnce(Gateway) -> Gateway,
) -> (std::net::SocketAddr, Upstream) {
    let (up, up_addr) = Upstream::start().await;
    let gateway = configure(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap());
    let (addr, stop) = run(gateway).await;
    std::mem::forget(stop);
    (addr, up)
}

/// The answer's `WWW-Authenticate` fields, in order.
fn challenges(answer: &Answer) -> Vec<&str> {
    answer.headers.iter().filter(|(n, _)| n == "www-authenticate").map(|(_, v)| v.as_str()).collect()
}

/// A compact JWS with this header and claims and a made-up signature (refused before any
/// signature is looked at).
fn forged(header: Value, claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
}

/// Asserts a 401 `invalid_dpop_proof` whose first challenge is DPoP's, the upstream untouched.
fn assert_invalid_proof(answer: &Answer, up: &Upstream, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    let all = challenges(answer);
    assert!(all[0].starts_with("DPoP error=\"invalid_dpop_proof\""), "{what}: {all:?}");
    assert!(all[0].contains("algs=\"RS256 PS256 ES256 ES384 ES512 EdDSA\""), "{what}: {all:?}");
    assert!(all[0].contains("resource_metadata=\""), "{what}: {all:?}");
    assert!(up.seen().is_empty(), "{what}: reached the upstream");
}

#[tokio::test]
async fn a_bound_token_with_a_good_proof_reaches_the_upstream_with_its_key_and_without_the_proof() {
    bounded(async {
        let d = Dpop::new();
        // The upstream's base path is not part of the `htu`: the client's URI is the gateway's.
        let (up, up_addr) = Upstream::start().await;
        let g = Gateway::new(d.world.rs(), &format!("http://{up_addr}/base")).unwrap();
        let (addr, _stop) = run(g).await;
        let spoof = "X-Auth-Dpop-Jkt: evil\r\nX_Auth_Dpop_Jkt: evil\r\nx-auth-dpop.jkt: evil\r\n";
        let ok = send(addr, &dpop_get("/photos/1?x=1", &d.token, &[&d.proof("/photos/1")], spoof)).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        let seen = up.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/base/photos/1");
        assert_eq!(seen[0].one("x-auth-dpop-jkt"), Some(d.key.thumbprint()));
        assert_eq!(seen[0].one("x-auth-subject"), Some("alice"));
        for gone in ["dpop", "authorization", "x_auth_dpop_jkt", "x-auth-dpop.jkt"] {
            assert_eq!(seen[0].one(gone), None, "{gone} reached the upstream");
        }
        // An unbound Bearer token still passes, without the header.
        let plain = send(addr, &get("/p", Some(&d.world.mint()), "X-Auth-Dpop-Jkt: evil\r\n")).await;
        assert_eq!(plain.status, 200);
        assert_eq!(up.seen()[1].one("x-auth-dpop-jkt"), None);
    })
    .await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let proof = d.proof("/p");
        assert_eq!(send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await.status, 200);
        let again = send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await;
        assert_eq!(again.status, 401);
        assert!(challenges(&again)[0].starts_with("DPoP error=\"invalid_dpop_proof\""));
        assert_eq!(up.seen().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_bound_token_presented_as_bearer_is_invalid_token() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let with_proof = format!("DPoP: {}\r\n", d.proof("/p"));
        let r = send(addr, &get("/p", Some(&d.token), &with_proof)).await;
        assert_eq!(r.status, 401);
        let all = challenges(&r);
        assert!(all[0].starts_with("Bearer error=\"invalid_token\""), "{all:?}");
        assert!(all[1].starts_with("DPoP algs=\""), "{all:?}");
        assert!(up.seen().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_proof_for_another_method_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let proof = d.key.proof("POST", &format!("{URL}/p")).access_token(&d.token).sign().unwrap();
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await, &up, "htm");
    })
    .await;
}

#[tokio::test]
async fn a_proof_for_another_uri_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        for htu in [format!("{URL}/other"), "https://evil.example/p".to_owned(), format!("{URL}/base/p")] {
            let proof = d.key.proof("GET", &htu).access_token(&d.token).sign().unwrap();
            let r = send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await;
            assert_invalid_proof(&r, &up, &htu);
        }
    })
    .await;
}

#[tokio::test]
async fn a_proof_without_ath_or_with_another_tokens_ath_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let no_ath = d.key.proof("GET", &format!("{URL}/p")).sign().unwrap();
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&no_ath], "")).await, &up, "no ath");
        let other = d.world.mint_bound(d.key.thumbprint());
        let wrong = d.key.proof("GET", &format!("{URL}/p")).access_token(&other).sign().unwrap();
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&wrong], "")).await, &up, "other ath");
    })
    .await;
}

#[tokio::test]
async fn a_proof_by_another_key_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let thief = DpopKey::generate().unwrap();
        let proof = thief.proof("GET", &format!("{URL}/p")).access_token(&d.token).sign().unwrap();
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await, &up, "jkt");
    })
    .await;
}

#[tokio::test]
async fn a_proof_an_hour_old_or_an_hour_ahead_is_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        for iat in [unix_now() - 3600, unix_now() + 3600] {
            let proof =
                d.key.proof("GET", &format!("{URL}/p")).access_token(&d.token).issued_at(iat).sign().unwrap();
            let r = send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await;
            assert_invalid_proof(&r, &up, &format!("iat {iat}"));
        }
    })
    .await;
}

#[tokio::test]
async fn proofs_typed_jwt_with_a_private_jwk_or_a_mac_or_no_algorithm_are_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let public = d.key.public_key().to_value().unwrap();
        let claims = json!({"jti": "j", "htm": "GET", "htu": format!("{URL}/p"), "iat": unix_now()});
        let private = jwe_mint::jwk::Jwk::generate(jwe_mint::jwk::Curve::P256).unwrap();
        let private: Value = serde_json::from_str(&private.to_private_json()).unwrap();
        for (what, header) in [
            ("typ JWT", json!({"typ": "JWT", "alg": "ES256", "jwk": public})),
            ("private jwk", json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private})),
            ("HS256", json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": public})),
            ("none", json!({"typ": "dpop+jwt", "alg": "none", "jwk": public})),
        ] {
            let r = send(addr, &dpop_get("/p", &d.token, &[&forged(header, claims.clone())], "")).await;
            assert_invalid_proof(&r, &up, what);
        }
        // An unsigned proof (`alg: none`, empty signature) too.
        let none = forged(json!({"typ": "dpop+jwt", "alg": "none", "jwk": public}), claims);
        let none = format!("{}.", none.rsplit_once('.').unwrap().0);
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&none], "")).await, &up, "unsigned");
    })
    .await;
}

#[tokio::test]
async fn two_proofs_in_one_field_or_in_two_fields_are_refused() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, |g| g).await;
        let (a, b) = (d.proof("/p"), d.proof("/p"));
        let joined = format!("{a}, {b}");
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&joined], "")).await, &up, "a, b");
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[&a, &b], "")).await, &up, "two fields");
        assert_invalid_proof(&send(addr, &dpop_get("/p", &d.token, &[], "")).await, &up, "no proof");
    })
    .await;
}

#[tokio::test]
async fn require_dpop_refuses_bearer_tokens_and_unbound_ones_with_the_dpop_challenge_only() {
    bounded(async {
        let d = Dpop::new();
        let (addr, up) = gateway(&d.world, Gateway::require_dpop).await;
        let bearer = send(addr, &get("/p", Some(&d.world.mint()), "")).await;
        assert_eq!(bearer.status, 401);
        let all = challenges(&bearer);
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].starts_with("DPoP error=\"invalid_token\""), "{all:?}");
        // An unbound token with the DPoP scheme and a proof of some key.
        let unbound = d.world.mint();
        let proof = d.key.proof("GET", &format!("{URL}/p")).access_token(&unbound).sign().unwrap();
        let r = send(addr, &dpop_get("/p", &unbound, &[&proof], "")).await;
        assert_eq!(r.status, 401);
        assert!(challenges(&r)[0].starts_with("DPoP error=\"invalid_token\""));
        // No credentials: the DPoP challenge alone.
        let none = send(addr, &get("/p", None, "")).await;
        assert_eq!(challenges(&none), [
            "DPoP algs=\"RS256 PS256 ES256 ES384 ES512 EdDSA\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""
        ]);
        assert!(up.seen().is_empty());
        assert_eq!(send(addr, &dpop_get("/p", &d.token, &[&d.proof("/p")], "")).await.status, 200);
    })
    .await;
}

#[tokio::test]
async fn a_proof_without_the_servers_nonce_is_use_dpop_nonce_and_with_it_passes() {
    bounded(async {
        let d = Dpop::new();
        let nonces = NonceSource::new(&[7u8; 32]).unwrap();
        let (addr, up) = gateway(&d.world, |g| g.dpop_nonce(nonces)).await;
        let first = send(addr, &dpop_get("/p", &d.token, &[&d.proof("/p")], "")).await;
        assert_eq!(first.status, 401);
        assert!(challenges(&first)[0].starts_with("DPoP error=\"use_dpop_nonce\""), "{first:?}");
        let nonce = first.header("dpop-nonce").expect("a DPoP-Nonce").to_owned();
        // A replica with the same secret made the same nonce.
        assert!(NonceSource::new(&[7u8; 32]).unwrap().accept(&nonce, unix_now()));
        assert!(up.seen().is_empty());
        let proof =
            d.key.proof("GET", &format!("{URL}/p")).access_token(&d.token).nonce(&nonce).sign().unwrap();
        let ok = send(addr, &dpop_get("/p", &d.token, &[&proof], "")).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert!(ok.header("dpop-nonce").is_some(), "the next nonce rides on the answer");
        let stale = d
            .key
            .proof("GET", &format!("{URL}/p"))
            .access_token(&d.token)
            .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .sign()
            .unwrap();
        let r = send(addr, &dpop_get("/p", &d.token, &[&stale], "")).await;
        assert!(challenges(&r)[0].starts_with("DPoP error=\"use_dpop_nonce\""));
    })
    .await;
}

#[tokio::test]
async fn the_metadata_lists_the_dpop_algorithms_and_whether_dpop_is_required() {
    bounded(async {
        let world = World::new();
        let path = "/.well-known/oauth-protected-resource";
        let (addr, _) = gateway(&world, |g| g).await;
        let doc: Value = serde_json::from_slice(&send(addr, &get(path, None, "")).await.body).unwrap();
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            json!(["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"])
        );
        assert!(doc.get("dpop_bound_access_tokens_required").is_none(), "{doc}");
        let (addr, _) = gateway(&world, Gateway::require_dpop).await;
        let doc: Value = serde_json::from_slice(&send(addr, &get(path, None, "")).await.body).unwrap();
        assert_eq!(doc["dpop_bound_access_tokens_required"], json!(true));
    })
    .await;
}

/// A replay store that cannot be reached.
#[derive(Debug)]
struct Down;

impl ReplayStore for Down {
    fn remember<'a>(&'a self, _key: &'a str, _until: i64, _now: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(Err(ReplayStoreError::Unavailable("down".into()))))
    }
}

#[tokio::test]
async fn an_unavailable_replay_store_is_503_and_every_dpop_outcome_is_counted() {
    bounded(async {
        let d = Dpop::new();
        let (_up, up_addr) = Upstream::start().await;
        let gateway = Gateway::new(d.world.rs(), &format!("http://{up_addr}")).unwrap();
        let down = gateway.clone().dpop_replay_store(Arc::new(Down));
        let nonced = gateway.clone().dpop_nonce(NonceSource::generate().unwrap()).require_dpop();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        let served = down.clone();
        tokio::spawn(async move { served.serve_metrics(listener, std::future::pending()).await });
        let (addr, _stop) = run(down).await;
        let r = send(addr, &dpop_get("/p", &d.token, &[&d.proof("/p")], "")).await;
        assert_eq!(r.status, 503, "never accepted unchecked");
        let bad = d.key.proof("PUT", &format!("{URL}/p")).access_token(&d.token).sign().unwrap();
        assert_eq!(send(addr, &dpop_get("/p", &d.token, &[&bad], "")).await.status, 401);
        let page =
            String::from_utf8(send(metrics, "GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n").await.body).unwrap();
        for line in [
            "jwe_mint_gateway_requests_total{outcome=\"replay_store_unavailable\"} 1",
            "jwe_mint_gateway_requests_total{outcome=\"invalid_dpop_proof\"} 1",
            "jwe_mint_gateway_requests_total{outcome=\"use_dpop_nonce\"} 0",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
        }

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        let served = nonced.clone();
        tokio::spawn(async move { served.serve_metrics(listener, std::future::pending()).await });
        let (addr, _stop) = run(nonced).await;
        assert_eq!(send(addr, &dpop_get("/p", &d.token, &[&d.proof("/p")], "")).await.status, 401);
        assert_eq!(send(addr, &get("/p", Some(&d.world.mint()), "")).await.status, 401);
        let page =
            String::from_utf8(send(metrics, "GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n").await.body).unwrap();
        for line in [
            "jwe_mint_gateway_requests_total{outcome=\"use_dpop_nonce\"} 1",
            "jwe_mint_gateway_requests_total{outcome=\"dpop_required\"} 1",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
        }
    })
    .await;
}

/// A subrequest for `GET target` the way nginx's `auth_request` sends it, with DPoP credentials.
fn nginx_dpop(target: &str, token: &str, proof: &str) -> String {
    format!(
        "GET /_auth HTTP/1.0\r\nHost: api.example.com\r\nX-Original-Method: GET\r\nX-Original-URI: {target}\r\nAuthorization: DPoP {token}\r\nDPoP: {proof}\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn forward_auth_checks_the_proof_against_the_original_uri_and_answers_one_challenge() {
    bounded(async {
        let d = Dpop::new();
        let (addr, stop) = run(Gateway::forward_auth(d.world.rs()).unwrap()).await;
        std::mem::forget(stop);
        let ok = send(addr, &nginx_dpop("/photos/1?size=2", &d.token, &d.proof("/photos/1"))).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.header("x-auth-dpop-jkt"), Some(d.key.thumbprint()));
        assert_eq!(ok.header("x-auth-subject"), Some("alice"));
        // A proof for the subrequest's own URI is not one for the original request.
        let own = send(addr, &nginx_dpop("/photos/1", &d.token, &d.proof("/_auth"))).await;
        assert_eq!(own.status, 401);
        let all = challenges(&own);
        assert_eq!(all.len(), 1, "nginx passes only the first: {all:?}");
        assert!(all[0].starts_with("DPoP error=\"invalid_dpop_proof\""), "{all:?}");
        assert!(all[0].contains(", Bearer resource_metadata="), "{all:?}");
        // Without credentials, Bearer first, DPoP after, on one line.
        let none = send(
            addr,
            "GET /_auth HTTP/1.0\r\nHost: a\r\nX-Original-Method: GET\r\nX-Original-URI: /p\r\n\r\n",
        )
        .await;
        let all = challenges(&none);
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(
            all[0].starts_with("Bearer resource_metadata=") && all[0].contains(", DPoP algs="),
            "{all:?}"
        );
        // An unbound token's answer carries an empty key header (Caddy copies absent ones literally).
        let plain = send(
            addr,
            &format!(
                "GET /_auth HTTP/1.0\r\nHost: a\r\nX-Original-URI: /p\r\nAuthorization: Bearer {}\r\n\r\n",
                d.world.mint()
            ),
        )
        .await;
        assert_eq!(plain.status, 200);
        assert_eq!(plain.header("x-auth-dpop-jkt"), Some(""));
    })
    .await;
}

#[tokio::test]
async fn an_axum_rs_under_a_prefix_names_its_public_base_and_handlers_get_the_bound_token() {
    use axum::{routing::get as route_get, Router};
    use jwe_mint::resource_server::AccessToken;
    use jwe_mint::wire::BearerLayer;
    bounded(async {
        let d = Dpop::new();
        // Behind a proxy that strips `/v1`: the routes see `/photos`, the client asked for
        // `https://api.example.com/v1/photos`.
        let layer =
            BearerLayer::new(d.world.rs()).unwrap().dpop_public_base("https://api.example.com/v1/").unwrap();
        assert!(BearerLayer::new(d.world.rs()).unwrap().dpop_public_base("https://x/?q").is_err());
        let app: Router = Router::new()
            .route(
                "/photos",
                route_get(|t: AccessToken| async move { t.dpop_jkt().unwrap_or("none").to_owned() }),
            )
            .route_layer(layer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let ok = send(addr, &dpop_get("/photos", &d.token, &[&d.proof("/v1/photos")], "")).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.body, d.key.thumbprint().as_bytes());
        let unprefixed = send(addr, &dpop_get("/photos", &d.token, &[&d.proof("/photos")], "")).await;
        assert_eq!(unprefixed.status, 401);
        assert!(challenges(&unprefixed)[0].starts_with("DPoP error=\"invalid_dpop_proof\""));
    })
    .await;
}
