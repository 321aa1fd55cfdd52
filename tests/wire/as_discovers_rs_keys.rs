//! The AS side on the wire (RFC 9728): registry entries with a `jwks_uri` or none, bound to the
//! RS's published keys over real HTTPS on 127.0.0.1 (a test CA the client alone trusts), tokens
//! minted to the discovered key and opened by the RS; every refusal asserted with its error;
//! rotation after the max-age; the last good set through an outage, then fail closed.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, KeySourceError};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{
    protected_resource_metadata_url, Discovery, KeySetConfig, ProtectedResourceDiscovery, WireError,
};
use jwe_mint::Error;
use serde_json::json;
use servers::{bounded, public_set, Pki, Reply, TestServer};

const AS: &str = "https://as.example.com";

/// Path → (body, max-age); the test changes them while the server runs.
type Routes = Arc<Mutex<Vec<(String, String, Option<u64>)>>>;

/// An RS's server on a port bound first, so its documents can name its own origin.
struct RsServer {
    server: TestServer,
    origin: String,
    routes: Routes,
}

impl RsServer {
    async fn start(pki: &Pki) -> RsServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let routes: Routes = Arc::new(Mutex::new(Vec::new()));
        let table = Arc::clone(&routes);
        let server = TestServer::start(
            addr,
            Some(pki),
            Arc::new(move |path: &str| {
                let table = table.lock().unwrap();
                match table.iter().find(|(p, _, _)| p == path) {
                    Some((_, body, Some(age))) => {
                        Reply::json(body.clone()).header("cache-control", format!("max-age={age}"))
                    }
                    Some((_, body, None)) => Reply::json(body.clone()),
                    None => Reply::status(404),
                }
            }),
        )
        .await;
        RsServer { server, origin: format!("https://127.0.0.1:{}", addr.port()), routes }
    }

    fn serve(&self, path: &str, body: String, max_age: Option<u64>) {
        let mut table = self.routes.lock().unwrap();
        table.retain(|(p, _, _)| p != path);
        table.push((path.to_string(), body, max_age));
    }

    /// `resource` = origin + `path`; its metadata names `jwks_uri` and lists `servers`.
    fn publish_metadata(&self, path: &str, jwks_uri: &str, servers: Option<&[&str]>) -> String {
        let resource = format!("{}{path}", self.origin);
        let mut doc =
            json!({ "resource": resource, "jwks_uri": jwks_uri, "bearer_methods_supported": ["header"] });
        if let Some(s) = servers {
            doc["authorization_servers"] = json!(s);
        }
        let url = protected_resource_metadata_url(&resource).unwrap();
        self.serve(url.path(), doc.to_string(), None);
        resource
    }
}

fn resources(pki: &Pki, config: KeySetConfig) -> ProtectedResourceDiscovery {
    ProtectedResourceDiscovery::new(Discovery::new(Arc::new(pki.fetcher())).key_set_config(config), AS)
}

fn enc_key() -> Jwk {
    Jwk::generate(Curve::P256).unwrap().with_use("enc")
}

fn issuer_for(registry: Registry, resources: &[&str]) -> (Issuer, Jwk) {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(registry)
        .allow_client("app", resources)
        .unwrap()
        .build()
        .unwrap();
    (issuer, as_key)
}

fn mint(issuer: &Issuer, resource: &str) -> Result<String, Error> {
    let grant = Grant::new("alice", "app", "read", &[resource]).unwrap();
    issuer.mint(&grant, resource).map(|t| t.access_token)
}

fn open(token: &str, resource: &str, rs_key: &Jwk, as_key: &Jwk) -> String {
    let rs = ResourceServer::builder(resource, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap();
    rs.open(token).unwrap().subject().to_string()
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

#[test]
fn the_metadata_url_inserts_the_well_known_segment() {
    let url = |r: &str| protected_resource_metadata_url(r).unwrap().to_string();
    // RFC 9728 §3.1 example, and one trailing slash stripped.
    assert_eq!(
        url("https://resource.example.com/resource1"),
        "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
    );
    assert_eq!(
        url("https://rs.example.com/a/b/"),
        "https://rs.example.com/.well-known/oauth-protected-resource/a/b"
    );
    assert_eq!(url("https://rs.example.com/"), "https://rs.example.com/.well-known/oauth-protected-resource");
    assert!(matches!(protected_resource_metadata_url("urn:x:y"), Err(WireError::InvalidUrl { .. })));
    assert!(matches!(
        protected_resource_metadata_url("https://rs.example/#f"),
        Err(WireError::InvalidUrl { .. })
    ));
}

/// Both kinds of remote entry bound by `bind_registry`: one with `jwks_uri`, one found through
/// its RFC 9728 metadata (its set mixes a signing key and an encryption key, each with `use`).
/// Tokens go to the published encryption keys and open at the RSs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_as_mints_to_discovered_rs_keys_and_the_rs_opens_them() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let photos_key = enc_key();
        let photos_sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
        let friends_key = Jwk::generate(Curve::X25519).unwrap();
        rs.serve("/photos/jwks", public_set(&[&photos_sig, &photos_key]), None);
        rs.serve("/friends/jwks", public_set(&[&friends_key]), None);
        let photos = rs.publish_metadata("/photos", &format!("{}/photos/jwks", rs.origin), Some(&[AS]));
        let friends = format!("{}/friends", rs.origin);

        let mut registry = Registry::default();
        registry.insert(ResourceEntry::discovered(&photos, ["read"]).unwrap()).unwrap();
        registry
            .insert(
                ResourceEntry::from_jwks_uri(&friends, ["read"], &format!("{}/friends/jwks", rs.origin))
                    .unwrap(),
            )
            .unwrap();
        let outcomes = resources(&pki, KeySetConfig::default()).bind_registry(&registry).await;
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|(_, o)| o.is_ok()), "{outcomes:?}");
        // Metadata once, each JWK Set once.
        assert_eq!(rs.server.requests(), 3);

        let (issuer, as_key) = issuer_for(registry, &[&photos, &friends]);
        assert_eq!(open(&mint(&issuer, &photos).unwrap(), &photos, &photos_key, &as_key), "alice");
        assert_eq!(open(&mint(&issuer, &friends).unwrap(), &friends, &friends_key, &as_key), "alice");
        // Binding again is a no-op: nothing is fetched.
        let again = resources(&pki, KeySetConfig::default()).bind_registry(issuer.registry()).await;
        assert!(again.iter().all(|(_, o)| o.is_ok()));
        assert_eq!(rs.server.requests(), 3);
    })
    .await
}

/// One RS down at startup: its entry stays unbound (tokens for it refused, `server_error`), the
/// other works, and a later bind succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rs_down_does_not_stop_the_as() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let key = enc_key();
        rs.serve("/jwks", public_set(&[&key]), None);
        let up = format!("{}/up", rs.origin);
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let down_origin = format!("https://127.0.0.1:{}", dead.local_addr().unwrap().port());
        drop(dead);
        let down = format!("{down_origin}/down");
        let mut registry = Registry::default();
        registry
            .insert(ResourceEntry::from_jwks_uri(&up, ["read"], &format!("{}/jwks", rs.origin)).unwrap())
            .unwrap();
        registry.insert(ResourceEntry::discovered(&down, ["read"]).unwrap()).unwrap();
        let outcomes = resources(&pki, KeySetConfig::default()).bind_registry(&registry).await;
        let by = |r: &str| &outcomes.iter().find(|(res, _)| res.as_str() == r).unwrap().1;
        assert!(by(&up).is_ok());
        assert!(matches!(by(&down), Err(WireError::Connect { .. })), "{:?}", by(&down));
        let (issuer, as_key) = issuer_for(registry, &[&up, &down]);
        assert_eq!(open(&mint(&issuer, &up).unwrap(), &up, &key, &as_key), "alice");
        let e = mint(&issuer, &down).unwrap_err();
        assert!(matches!(&e, Error::KeySource(KeySourceError::Unavailable { .. })), "{e:?}");
        assert!(e.to_string().starts_with("server_error: "));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_resource_that_is_not_identical_is_refused() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let key = enc_key();
        rs.serve("/jwks", public_set(&[&key]), None);
        // The document names the resource with a trailing slash: not identical (RFC 9728 §3.3).
        let resource = format!("{}/api", rs.origin);
        let url = protected_resource_metadata_url(&resource).unwrap();
        rs.serve(
            url.path(),
            json!({"resource": format!("{resource}/"), "jwks_uri": format!("{}/jwks", rs.origin)}).to_string(),
            None,
        );
        let e = resources(&pki, KeySetConfig::default()).resource_keys(&resource).await.unwrap_err();
        assert!(
            matches!(&e, WireError::ResourceMismatch { expected, found, .. } if *expected == resource && *found == format!("{resource}/")),
            "{e:?}"
        );
        assert_eq!(e.url(), url.as_str());
        assert_eq!(rs.server.requests(), 1, "the keys of a mismatching document are never fetched");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs_that_does_not_list_this_issuer_is_refused_unless_dangerously_allowed() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let key = enc_key();
        rs.serve("/jwks", public_set(&[&key]), None);
        let jwks = format!("{}/jwks", rs.origin);
        let resource = rs.publish_metadata(
            "/api",
            &jwks,
            Some(&["https://other-as.example.com", "https://as.example.com/"]),
        );
        let e = resources(&pki, KeySetConfig::default()).resource_keys(&resource).await.unwrap_err();
        assert!(
            matches!(&e, WireError::AuthorizationServerNotListed { issuer, .. } if issuer == AS),
            "{e:?}"
        );
        let keys = resources(&pki, KeySetConfig::default())
            .dangerous_accept_unlisted_issuer()
            .resource_keys(&resource)
            .await
            .unwrap();
        assert!(keys.snapshot().unwrap().find(key.kid().unwrap()).is_some());
        // Without `authorization_servers` the RS names no AS (RFC 9728 §7.6): used.
        let open_resource = rs.publish_metadata("/open", &jwks, None);
        assert!(resources(&pki, KeySetConfig::default()).resource_keys(&open_resource).await.is_ok());
        // Not an array of strings: invalid.
        let url = protected_resource_metadata_url(&resource).unwrap();
        rs.serve(
            url.path(),
            json!({"resource": resource, "jwks_uri": jwks, "authorization_servers": AS}).to_string(),
            None,
        );
        let e = resources(&pki, KeySetConfig::default()).resource_keys(&resource).await.unwrap_err();
        assert!(matches!(e, WireError::InvalidMetadata { .. }), "{e:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_uri_on_another_origin_is_refused_unless_allowed() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let elsewhere = RsServer::start(&pki).await;
        let key = enc_key();
        elsewhere.serve("/jwks", public_set(&[&key]), None);
        let other = format!("{}/jwks", elsewhere.origin);
        let resource = rs.publish_metadata("/api", &other, Some(&[AS]));
        let e = resources(&pki, KeySetConfig::default()).resource_keys(&resource).await.unwrap_err();
        assert!(matches!(&e, WireError::JwksUriRefused { jwks_uri, .. } if *jwks_uri == other), "{e:?}");
        assert_eq!(elsewhere.server.requests(), 0, "the refused jwks_uri is never fetched");
        // Discovery's allow-list applies here too.
        let allowed = ProtectedResourceDiscovery::new(
            Discovery::new(Arc::new(pki.fetcher())).allow_jwks_origin(&elsewhere.origin).unwrap(),
            AS,
        );
        let keys = allowed.resource_keys(&resource).await.unwrap();
        assert!(keys.snapshot().unwrap().find(key.kid().unwrap()).is_some());
        assert_eq!(elsewhere.server.requests(), 1);
    })
    .await
}

/// An RS whose set holds only `use: sig` keys: bound, but no token is minted for it, never an
/// unencrypted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_of_signing_keys_only_is_no_usable_key() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
        rs.serve("/jwks", public_set(&[&sig]), None);
        let resource = rs.publish_metadata("/api", &format!("{}/jwks", rs.origin), Some(&[AS]));
        let mut registry = Registry::default();
        registry.insert(ResourceEntry::discovered(&resource, ["read"]).unwrap()).unwrap();
        let outcomes = resources(&pki, KeySetConfig::default()).bind_registry(&registry).await;
        assert!(outcomes[0].1.is_ok());
        let (issuer, _) = issuer_for(registry, &[&resource]);
        let e = mint(&issuer, &resource).unwrap_err();
        assert!(
            matches!(&e, Error::KeySource(KeySourceError::NoUsableKey { location, .. }) if location.ends_with("/jwks")),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("server_error: "));
    })
    .await
}

/// The RS publishes a new key (and drops the old one): after the max-age the AS encrypts to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs_key_rotation_is_picked_up_after_the_max_age() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let old = enc_key();
        let new = enc_key();
        rs.serve("/jwks", public_set(&[&old]), Some(1));
        let resource = format!("{}/api", rs.origin);
        let mut registry = Registry::default();
        registry
            .insert(
                ResourceEntry::from_jwks_uri(&resource, ["read"], &format!("{}/jwks", rs.origin)).unwrap(),
            )
            .unwrap();
        let mut config = KeySetConfig::default();
        config.min_lifetime = Duration::from_secs(1);
        resources(&pki, config).bind_entry(&registry.entries()[0]).await.unwrap();
        let (issuer, as_key) = issuer_for(registry, &[&resource]);
        assert_eq!(open(&mint(&issuer, &resource).unwrap(), &resource, &old, &as_key), "alice");

        rs.serve("/jwks", public_set(&[&new]), Some(1));
        let entry = &issuer.registry().entries()[0];
        let rotated =
            eventually(Duration::from_secs(5), || entry.encryption_key().unwrap().key().kid() == new.kid())
                .await;
        assert!(rotated, "the new key is used within a few max-ages");
        assert_eq!(open(&mint(&issuer, &resource).unwrap(), &resource, &new, &as_key), "alice");
        // A refresh per max-age, not per token.
        let requests = rs.server.requests();
        assert!((2..=8).contains(&requests), "{requests} fetches");
    })
    .await
}

/// The keys server goes away: the last good set keeps serving through failed refreshes; past the
/// staleness cap the source fails closed and minting is refused (`Unavailable`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_set_serves_through_an_outage_then_fails_closed() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let key = enc_key();
        rs.serve("/jwks", public_set(&[&key]), Some(1));
        let resource = format!("{}/api", rs.origin);
        let mut registry = Registry::default();
        registry
            .insert(
                ResourceEntry::from_jwks_uri(&resource, ["read"], &format!("{}/jwks", rs.origin)).unwrap(),
            )
            .unwrap();
        let mut config = KeySetConfig::default();
        config.min_lifetime = Duration::from_secs(1);
        config.max_staleness = Duration::from_secs(2);
        config.retry_interval = Duration::from_millis(200);
        let discovery = resources(&pki, config);
        discovery.bind_entry(&registry.entries()[0]).await.unwrap();
        let bound_at = Instant::now();
        let (issuer, as_key) = issuer_for(registry, &[&resource]);
        let RsServer { server, .. } = rs;
        server.stop().await;

        // A refresh has failed (the lifetime is 1 s) and the set still serves.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let token = mint(&issuer, &resource).expect("the last good set serves through the outage");
        assert_eq!(open(&token, &resource, &key, &as_key), "alice");

        // Past lifetime + cap (1 s + 2 s): fail closed.
        let closed = eventually(Duration::from_secs(4), || mint(&issuer, &resource).is_err()).await;
        assert!(closed);
        assert!(bound_at.elapsed() >= Duration::from_secs(3), "not before the cap");
        let e = mint(&issuer, &resource).unwrap_err();
        match &e {
            Error::KeySource(KeySourceError::Unavailable { reason, .. }) => {
                assert!(reason.contains("stale"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("server_error: "));
    })
    .await
}

/// `KeyUseFilter::Encrypt`, applied to every fetched RS set: `use: enc` keys, and keys without
/// `use` only when no key is `use: sig` (RFC 9728 §2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs_key_sets_keep_encryption_keys_only() {
    bounded(async {
        let pki = Pki::new();
        let rs = RsServer::start(&pki).await;
        let enc = enc_key();
        let bare = Jwk::generate(Curve::P256).unwrap();
        let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
        let kids = |set: &JwkSet| set.keys().iter().map(|k| k.kid().unwrap().to_string()).collect::<Vec<_>>();
        let discovery = resources(&pki, KeySetConfig::default());
        for (path, published, kept) in [
            ("/mixed", vec![&sig, &enc, &bare], vec![&enc]),
            ("/unlabelled", vec![&bare, &enc], vec![&bare, &enc]),
            ("/signing", vec![&sig], vec![]),
        ] {
            rs.serve(path, public_set(&published), None);
            let keys = discovery.jwks_uri_keys(&format!("{}{path}", rs.origin)).await.unwrap();
            let expected: Vec<String> = kept.iter().map(|k| k.kid().unwrap().to_string()).collect();
            assert_eq!(kids(&keys.snapshot().unwrap()), expected, "{path}");
        }
    })
    .await
}
