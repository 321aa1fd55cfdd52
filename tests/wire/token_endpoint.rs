//! The library's token endpoint (`jwe_mint::wire::AuthorizationServer`) over a real socket on
//! 127.0.0.1 with reqwest: every RFC 6749 §5.2 refusal, refresh-token rotation, the metadata and
//! JWK Set documents, and the `server_error` extension (503 + `Retry-After`, 500).
#![cfg(feature = "axum")]

use crate::servers;

use std::sync::Arc;

use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet, StaticJwkSource};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{AuthorizationServer, RegisteredClient};
use serde_json::Value;
use servers::bounded;

const SECRET: &str = "correct horse battery staple";
const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com";
/// Allowed to the client but absent from the registry.
const GONE: &str = "https://gone.example.com";
/// Registered with keys on the wire, never bound (its RS is "down").
const DOWN: &str = "https://down.example.com";
/// Bound to a key set that holds only a signing key.
const SIGNING_ONLY: &str = "https://sig-only.example.com";

struct Setup {
    http: reqwest::Client,
    issuer: String,
    token_endpoint: String,
    photos_key: Jwk,
    friends_key: Jwk,
    as_public: JwkSet,
    _server: tokio::task::JoinHandle<()>,
}

async fn setup() -> Setup {
    setup_with(jwe_mint::wire::DEFAULT_MAX_REFRESH_TOKENS).await
}

/// The server with at most `max_refresh_tokens` live refresh tokens per client.
async fn setup_with(max_refresh_tokens: usize) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let photos_key = Jwk::generate(Curve::P256).unwrap();
    let friends_key = Jwk::generate(Curve::X25519).unwrap();
    let public = |k: &Jwk| JwkSet::new(vec![k.to_public().unwrap()]);
    let mut registry = Registry::default();
    registry
        .insert(ResourceEntry::new(PHOTOS, ["photos.read", "photos.write"], public(&photos_key)).unwrap())
        .unwrap();
    registry.insert(ResourceEntry::new(FRIENDS, ["friends.read"], public(&friends_key)).unwrap()).unwrap();
    registry.insert(ResourceEntry::discovered(DOWN, ["photos.read"]).unwrap()).unwrap();
    registry.insert(ResourceEntry::discovered(SIGNING_ONLY, ["photos.read"]).unwrap()).unwrap();
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let server = AuthorizationServer::builder(Issuer::builder(&issuer, &as_key).registry(registry))
        .allow_refresh_tokens_for_client_credentials()
        .max_refresh_tokens(max_refresh_tokens)
        .client(
            RegisteredClient::new("photo-app", SECRET, "alice")
                .unwrap()
                .scope("photos.read friends.read")
                .resources([PHOTOS, FRIENDS, GONE, DOWN, SIGNING_ONLY])
                .home_resource(PHOTOS),
        )
        .unwrap()
        .client(
            RegisteredClient::new("other-app", "other secret", "bob")
                .unwrap()
                .scope("photos.read")
                .resources([PHOTOS]),
        )
        .unwrap()
        .build()
        .unwrap();
    let signing_only =
        JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap().with_use("sig").to_public().unwrap()]);
    let entry =
        server.issuer().registry().entries().iter().find(|e| e.resource().as_str() == SIGNING_ONLY).unwrap();
    entry.set_key_source(Arc::new(StaticJwkSource::new(signing_only, "test"))).unwrap();
    let as_public = server.issuer().verification_keys().clone();
    let token_endpoint = server.token_endpoint().to_owned();
    let app = server.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Setup {
        http: reqwest::Client::new(),
        issuer,
        token_endpoint,
        photos_key,
        friends_key,
        as_public,
        _server: task,
    }
}

impl Setup {
    async fn post(&self, form: &[(&str, &str)], client: &str, secret: &str) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.http
            .post(&self.token_endpoint)
            .basic_auth(client, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn request(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post(form, "photo-app", SECRET).await
    }

    fn rs(&self, resource: &str, key: &Jwk) -> ResourceServer {
        ResourceServer::builder(resource, &self.issuer)
            .decryption_keys(JwkSet::new(vec![key.clone()]))
            .issuer_keys(self.as_public.clone())
            .build()
            .unwrap()
    }
}

/// Status, the §5.2 `error`, and the headers every token endpoint answer carries.
async fn refusal(r: reqwest::Response) -> (u16, String, reqwest::header::HeaderMap) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    assert_eq!(headers["cache-control"], "no-store", "RFC 6749 §5.1");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    (status, body["error"].as_str().unwrap_or("(none: accepted)").to_owned(), headers)
}

async fn json(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_has_its_rfc_6749_code() {
    bounded(async {
        let s = setup().await;
        let cc = ("grant_type", "client_credentials");

        // invalid_client: 401 with a Basic challenge, whatever is wrong with the credentials.
        for (client, secret) in
            [("photo-app", "wrong"), ("photo-app", ""), ("nobody", SECRET), ("other-app", SECRET)]
        {
            let (status, code, headers) = refusal(s.post(&[cc], client, secret).await).await;
            assert_eq!((status, code.as_str()), (401, "invalid_client"), "{client}/{secret}");
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        }
        let no_auth = s
            .http
            .post(&s.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(refusal(no_auth).await.0, 401);
        let bearer = s
            .http
            .post(&s.token_endpoint)
            .bearer_auth(SECRET)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(refusal(bearer).await.1, "invalid_client");

        // invalid_request
        let (status, code, _) =
            refusal(s.request(&[cc, ("scope", "photos.read"), ("scope", "friends.read")]).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "a parameter twice");
        assert_eq!(
            refusal(s.request(&[("scope", "photos.read")]).await).await.1,
            "invalid_request",
            "no grant_type"
        );
        assert_eq!(
            refusal(s.request(&[cc, ("client_secret", SECRET)]).await).await.1,
            "invalid_request",
            "two authentication methods"
        );
        assert_eq!(refusal(s.request(&[("grant_type", "refresh_token")]).await).await.1, "invalid_request");
        let json_body = s
            .http
            .post(&s.token_endpoint)
            .basic_auth("photo-app", Some(SECRET))
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(refusal(json_body).await.1, "invalid_request");
        let huge = "x".repeat(jwe_mint::wire::MAX_TOKEN_REQUEST + 1);
        assert_eq!(refusal(s.request(&[cc, ("state", &huge)]).await).await.1, "invalid_request");

        // unsupported_grant_type
        assert_eq!(refusal(s.request(&[("grant_type", "password")]).await).await.1, "unsupported_grant_type");

        // invalid_scope: beyond the client's, or malformed (RFC 6749 §3.3).
        assert_eq!(refusal(s.request(&[cc, ("scope", "admin")]).await).await.1, "invalid_scope");
        for malformed in ["photos.read  friends.read", " photos.read", "photos.read\"", "photos.read\\"] {
            assert_eq!(
                refusal(s.request(&[cc, ("scope", malformed)]).await).await.1,
                "invalid_scope",
                "{malformed:?}"
            );
        }
        // A scope the client has, but not one the resource offers.
        assert_eq!(
            refusal(s.request(&[cc, ("scope", "friends.read"), ("resource", PHOTOS)]).await).await.1,
            "invalid_scope"
        );

        // unauthorized_client: a resource this client may not have, registered or not.
        for resource in [FRIENDS, "https://evil.example"] {
            let (status, code, _) =
                refusal(s.post(&[cc, ("resource", resource)], "other-app", "other secret").await).await;
            assert_eq!((status, code.as_str()), (400, "unauthorized_client"), "{resource}");
        }

        // invalid_target: allowed to the client but not in the registry; malformed.
        assert_eq!(refusal(s.request(&[cc, ("resource", GONE)]).await).await.1, "invalid_target");
        assert_eq!(refusal(s.request(&[cc, ("resource", "not a uri")]).await).await.1, "invalid_target");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_home_resource_must_name_one() {
    bounded(async {
        let s = setup().await;
        let (status, code, _) =
            refusal(s.post(&[("grant_type", "client_credentials")], "other-app", "other secret").await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_target"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_second_use_is_invalid_grant() {
    bounded(async {
        let s = setup().await;
        let cc = ("grant_type", "client_credentials");
        let first = json(s.request(&[cc, ("resource", PHOTOS), ("resource", FRIENDS)]).await).await;
        let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
        assert!(rt1.len() >= 43, "32 random bytes, base64url");

        // RFC 8707 §2.2: a token for the second resource from the refresh token.
        let second = json(
            s.request(&[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("resource", FRIENDS)])
                .await,
        )
        .await;
        assert_eq!(second["resource"], FRIENDS);
        let token = second["access_token"].as_str().unwrap();
        let at = s.rs(FRIENDS, &s.friends_key).open(token).unwrap();
        assert_eq!((at.subject(), at.client_id()), ("alice", "photo-app"));
        let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2, "rotated");

        // The spent token: invalid_grant, and (RFC 9700 §4.14.2) its successor is revoked.
        let (status, code, _) =
            refusal(s.request(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_grant"));
        let (_, code, _) =
            refusal(s.request(&[("grant_type", "refresh_token"), ("refresh_token", &rt2)]).await).await;
        assert_eq!(code, "invalid_grant", "the successor of a reused token is revoked");

        // A fresh family: refusals that do not spend the token, then a successful use.
        let rt = json(s.request(&[cc]).await).await["refresh_token"].as_str().unwrap().to_owned();
        let refresh = |extra: Vec<(&'static str, &'static str)>| {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
            form.extend(extra);
            form
        };
        assert_eq!(
            refusal(s.request(&refresh(vec![("resource", FRIENDS)])).await).await.1,
            "invalid_target",
            "friends was not in this grant (only the home resource)"
        );
        assert_eq!(
            refusal(s.request(&refresh(vec![("scope", "friends.read photos.write")])).await).await.1,
            "invalid_scope"
        );
        let (status, code, _) = refusal(s.post(&refresh(vec![]), "other-app", "other secret").await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_grant"), "another client's refresh token");
        assert_eq!(
            refusal(s.request(&refresh(vec![("refresh_token", "x")])).await).await.1,
            "invalid_request"
        );
        let body = json(s.request(&refresh(vec![("scope", "photos.read")])).await).await;
        assert_eq!(body["resource"], PHOTOS);
        assert!(s.rs(PHOTOS, &s.photos_key).open(body["access_token"].as_str().unwrap()).is_ok());
        // An unknown token.
        assert_eq!(
            refusal(
                s.request(&[("grant_type", "refresh_token"), ("refresh_token", "bm90IGEgdG9rZW4")]).await
            )
            .await
            .1,
            "invalid_grant"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_unavailable_is_503_and_no_usable_key_is_500() {
    bounded(async {
        let s = setup().await;
        let cc = ("grant_type", "client_credentials");
        let (status, code, headers) =
            refusal(s.request(&[cc, ("scope", "photos.read"), ("resource", DOWN)]).await).await;
        assert_eq!((status, code.as_str()), (503, "server_error"));
        assert_eq!(headers["retry-after"], "30");
        let (status, code, headers) =
            refusal(s.request(&[cc, ("scope", "photos.read"), ("resource", SIGNING_ONLY)]).await).await;
        assert_eq!((status, code.as_str()), (500, "server_error"));
        assert!(headers.get("retry-after").is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_jwks_are_served() {
    bounded(async {
        let s = setup().await;
        let url = format!("{}/.well-known/oauth-authorization-server", s.issuer);
        let r = s.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["cache-control"].to_str().unwrap().starts_with("max-age="));
        let metadata: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(metadata["issuer"], s.issuer.as_str());
        assert_eq!(metadata["token_endpoint"], s.token_endpoint.as_str());
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic"])
        );
        assert_eq!(
            metadata["grant_types_supported"],
            serde_json::json!(["client_credentials", "refresh_token"])
        );
        let r = s.http.get(metadata["jwks_uri"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
        let jwks: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].get("d").is_none(), "public signing key only");
        // The documents are what discovery reads.
        let discovery = jwe_mint::wire::Discovery::new(Arc::new(
            jwe_mint::wire::HttpFetcher::builder().allow_http_loopback(true).build().unwrap(),
        ));
        let keys = discovery.issuer_keys(&s.issuer).await.unwrap();
        assert!(discovery.authorization_server(&s.issuer).await.is_ok());
        drop(keys);
    })
    .await
}

/// Each client has its own refresh token store: one that fills its store drops its own oldest
/// token, never another client's.
#[tokio::test]
async fn a_client_filling_its_refresh_tokens_evicts_only_its_own() {
    fn refresh(rt: &str) -> [(&'static str, &str); 2] {
        [("grant_type", "refresh_token"), ("refresh_token", rt)]
    }
    bounded(async {
        let s = setup_with(2).await;
        let cc = ("grant_type", "client_credentials");
        let alice = json(s.request(&[cc]).await).await["refresh_token"].as_str().unwrap().to_owned();
        let mut bobs = Vec::new();
        for _ in 0..3 {
            let body = json(s.post(&[cc, ("resource", PHOTOS)], "other-app", "other secret").await).await;
            bobs.push(body["refresh_token"].as_str().unwrap().to_owned());
        }
        // Bob's store holds 2: his oldest is gone, his newest works.
        let (_, code, _) = refusal(s.post(&refresh(&bobs[0]), "other-app", "other secret").await).await;
        assert_eq!(code, "invalid_grant");
        let body = json(s.post(&refresh(&bobs[2]), "other-app", "other secret").await).await;
        assert!(body["access_token"].is_string());
        // Alice's, issued before all of Bob's, still works.
        assert!(json(s.request(&refresh(&alice)).await).await["access_token"].is_string());
    })
    .await
}

/// The server's configuration is refused by kind: the option named, or the core's own error.
#[test]
fn the_authorization_server_refuses_its_configuration_by_kind() {
    use jwe_mint::wire::ConfigError;
    use jwe_mint::{Error, Misuse};
    let invalid = |e: ConfigError, expected: &str| {
        assert!(matches!(&e, ConfigError::Invalid { option, .. } if *option == expected), "{e:?}");
    };
    invalid(RegisteredClient::new("", SECRET, "alice").unwrap_err(), "client");
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs_key = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    let builder = |issuer: &str| {
        let mut registry = Registry::default();
        registry
            .insert(ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![rs_key.clone()])).unwrap())
            .unwrap();
        AuthorizationServer::builder(Issuer::builder(issuer, &as_key).registry(registry))
    };
    let client = || RegisteredClient::new("photo-app", SECRET, "alice").unwrap().resources([PHOTOS]);
    let once = builder("https://as.example.com").client(client()).unwrap();
    invalid(once.client(client()).unwrap_err(), "client");
    invalid(builder("https://as.example.com").client(client().home_resource(FRIENDS)).unwrap_err(), "client");
    invalid(builder("https://as.example.com").max_refresh_tokens(0).build().unwrap_err(), "refresh_tokens");
    // A scope RFC 6749 §3.3 forbids is refused when the client is registered.
    invalid(
        builder("https://as.example.com").client(client().scope("photos.read \"all\"")).unwrap_err(),
        "scope",
    );
    assert!(builder("https://as.example.com").client(client().scope("  photos.read  ")).is_ok());
    let book = jwe_mint::wire::TokenBook::builder("https://as.example.com", "photo-app", SECRET.to_owned());
    invalid(book.scope("photos.read\u{7}").build().err().unwrap(), "scope");
    // The issuer builder's own refusal keeps its kind, through the conversion too.
    let e = builder("not a uri").build().unwrap_err();
    assert_eq!(e, ConfigError::Core(Error::Misuse(Misuse::NotAbsoluteUri("issuer"))));
    assert_eq!(Error::from(e), Error::Misuse(Misuse::NotAbsoluteUri("issuer")));
    // Every other kind becomes a configuration misuse with the same message.
    let e = builder("https://as.example.com").max_refresh_tokens(0).build().unwrap_err();
    assert_eq!(Error::from(e.clone()), Error::Misuse(Misuse::Configuration(e.to_string())));
}
