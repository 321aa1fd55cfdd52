//! Live key sources in the core crate (no HTTP): a resource server whose own decryption keys or
//! whose AS keys change while it runs. A key added opens tokens at once; a key removed stops
//! opening them, cached tokens included.

use std::sync::{Arc, Mutex};

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource, KeySourceError};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::Error;

const RS: &str = "https://photos.example.com";
const AS: &str = "https://as.example.com";

/// A key set the test swaps, as a file watcher would.
#[derive(Debug)]
struct Swappable(Mutex<Arc<JwkSet>>);

impl Swappable {
    fn new(keys: Vec<Jwk>) -> Arc<Swappable> {
        Arc::new(Swappable(Mutex::new(Arc::new(JwkSet::new(keys)))))
    }
    fn set(&self, keys: Vec<Jwk>) {
        *self.0.lock().unwrap() = Arc::new(JwkSet::new(keys));
    }
}

impl JwkSource for Swappable {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        Ok(Arc::clone(&self.0.lock().unwrap()))
    }
    fn location(&self) -> &str {
        "test"
    }
}

fn key() -> Jwk {
    Jwk::generate(Curve::P256).unwrap()
}

fn token(as_key: &Jwk, rs_key: &Jwk) -> String {
    let mut registry = Registry::default();
    registry
        .insert(
            ResourceEntry::new(RS, ["photos.read"], JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap(),
        )
        .unwrap();
    let issuer =
        Issuer::builder(AS, as_key).registry(registry).allow_client("app", &[RS]).unwrap().build().unwrap();
    let grant = Grant::new("alice", "app", "photos.read", &[RS]).unwrap();
    issuer.mint(&grant, RS).unwrap().access_token
}

fn public(k: &Jwk) -> JwkSet {
    JwkSet::new(vec![k.to_public().unwrap()])
}

#[test]
fn rs_keys_from_a_live_source_add_and_remove_at_once_even_through_the_cache() {
    let (as_key, old, new) = (key(), key(), key());
    let source = Swappable::new(vec![old.clone()]);
    let rs = ResourceServer::builder(RS, AS)
        .decryption_key_source(source.clone())
        .issuer_keys(public(&as_key))
        .cache(64)
        .build()
        .unwrap();
    let (to_old, to_new) = (token(&as_key, &old), token(&as_key, &new));
    assert!(rs.open(&to_old).is_ok());
    assert!(rs.open(&to_old).is_ok(), "served from the cache");
    assert_eq!(rs.cache_stats().unwrap().hits, 1);
    assert!(rs.open(&to_new).is_err(), "not yet published");
    // Rotation: the new key is added; it opens at once, the old one still does.
    source.set(vec![new.clone(), old.clone()]);
    assert!(rs.open(&to_new).is_ok());
    assert!(rs.open(&to_old).is_ok());
    // The old key is removed: its tokens stop opening, the cached one included.
    source.set(vec![new.clone()]);
    assert!(matches!(rs.open(&to_old), Err(Error::NoMatchingKey(_) | Error::DecryptionFailed)));
    assert!(rs.open(&to_new).is_ok());
    // The published keys follow the source.
    let published = rs.public_keys().unwrap();
    assert_eq!(published.keys().len(), 1);
    assert_eq!(published.keys()[0].kid(), new.kid());
}

#[test]
fn an_as_key_removed_from_a_live_source_stops_its_cached_tokens() {
    let (old, new, rs_key) = (key(), key(), key());
    let source = Swappable::new(vec![old.to_public().unwrap(), new.to_public().unwrap()]);
    let rs = ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_key_source(source.clone())
        .cache(64)
        .build()
        .unwrap();
    let signed_old = token(&old, &rs_key);
    assert!(rs.open(&signed_old).is_ok());
    assert!(rs.open(&signed_old).is_ok());
    assert_eq!(rs.cache_stats().unwrap().hits, 1);
    source.set(vec![new.to_public().unwrap()]);
    assert!(matches!(rs.open(&signed_old), Err(Error::NoMatchingKey(_))));
    assert!(rs.open(&token(&new, &rs_key)).is_ok());
}

#[test]
fn a_live_rs_key_source_must_hold_private_asymmetric_keys() {
    let (as_key, rs_key) = (key(), key());
    let with_source = |source: Arc<Swappable>| {
        ResourceServer::builder(RS, AS).decryption_key_source(source).issuer_keys(public(&as_key)).build()
    };
    assert!(with_source(Swappable::new(vec![rs_key.clone()])).is_ok());
    let e = with_source(Swappable::new(vec![rs_key.to_public().unwrap()])).unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
    let e = with_source(Swappable::new(vec![])).unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
    let e = with_source(Swappable::new(vec![Jwk::generate_symmetric(32).unwrap()])).unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
}

/// A source's own failure, as its error type.
#[derive(Debug, PartialEq, Eq)]
struct DiskGone(&'static str);

impl std::fmt::Display for DiskGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "disk {} is gone", self.0)
    }
}

impl std::error::Error for DiskGone {}

#[test]
fn a_source_failure_reaches_the_caller_with_its_own_type_and_compares_without_it() {
    #[derive(Debug)]
    struct Failing(Mutex<bool>);
    impl JwkSource for Failing {
        fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
            if !*self.0.lock().unwrap() {
                return Ok(Arc::new(public(&key())));
            }
            Err(KeySourceError::Unavailable {
                location: "test".into(),
                reason: "disk sdb is gone".into(),
                source: Some(Arc::new(DiskGone("sdb"))),
            })
        }
        fn location(&self) -> &str {
            "test"
        }
    }
    let (as_key, rs_key) = (key(), key());
    let source = Arc::new(Failing(Mutex::new(false)));
    let rs = ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_key_source(source.clone())
        .build()
        .unwrap();
    *source.0.lock().unwrap() = true;
    let e = rs.open(&token(&as_key, &rs_key)).unwrap_err();
    let key_source = std::error::Error::source(&e).unwrap().downcast_ref::<KeySourceError>().unwrap();
    let cause = std::error::Error::source(key_source).unwrap();
    assert_eq!(cause.downcast_ref::<DiskGone>(), Some(&DiskGone("sdb")));
    // `==` compares what is reported, not the source.
    let bare = KeySourceError::Unavailable {
        location: "test".into(),
        reason: "disk sdb is gone".into(),
        source: None,
    };
    assert_eq!(e, Error::KeySource(bare.clone()));
    assert!(std::error::Error::source(&bare).is_none());
    assert_eq!(e.to_string(), "server_error: keys from test are unavailable: disk sdb is gone");
}
