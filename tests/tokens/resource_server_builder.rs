//! `ResourceServer::builder`: the RS's keys and the AS's keys named, each fixed or live, every
//! mistake refused at `build()`; `OpenRequest` for a demanded audience or a fixed time.

use std::sync::Arc;

use jwe_mint::error::TokenRejection;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource, StaticJwkSource};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{OpenRequest, ResourceServer, Validation};
use jwe_mint::{Error, Misuse};

const AS: &str = "https://as.example.com";
const API: &str = "https://api.example.com";
const TENANT: &str = "https://api.example.com/tenants/42";

struct World {
    rs_key: Jwk,
    issuer: Issuer,
}

fn world() -> World {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let mut registry = Registry::default();
    let entry = ResourceEntry::new(API, ["read"], JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap();
    registry.insert(entry.covering_subresources()).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(registry)
        .allow_client("app", &[API, TENANT])
        .unwrap()
        .build()
        .unwrap();
    World { rs_key, issuer }
}

fn mint(w: &World, resource: &str) -> String {
    let grant = Grant::new("alice", "app", "read", &[resource]).unwrap();
    w.issuer.mint(&grant, resource).unwrap().access_token
}

fn own_keys(w: &World) -> JwkSet {
    JwkSet::new(vec![w.rs_key.clone()])
}

fn rejection(e: Error) -> TokenRejection {
    match e {
        Error::InvalidToken(r) => r,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

#[test]
fn fixed_keys_open_a_token() {
    let w = world();
    let builder = ResourceServer::builder(API, AS);
    assert_eq!(builder.issuer(), AS, "what a discovery of the AS keys reads");
    let rs = builder
        .decryption_keys(own_keys(&w))
        .issuer_keys(w.issuer.verification_keys().clone())
        .build()
        .unwrap();
    assert_eq!(rs.resource(), API);
    assert_eq!(rs.issuer(), AS);
    assert_eq!(rs.open(&mint(&w, API)).unwrap().subject(), "alice");
}

#[test]
fn live_sources_on_both_sides_open_a_token() {
    let w = world();
    let own: Arc<dyn JwkSource> = Arc::new(StaticJwkSource::new(own_keys(&w), "rs.json"));
    let theirs: Arc<dyn JwkSource> =
        Arc::new(StaticJwkSource::new(w.issuer.verification_keys().clone(), "https://as.example.com/jwks"));
    let rs = ResourceServer::builder(API, AS)
        .decryption_key_source(own)
        .issuer_key_source(theirs)
        .build()
        .unwrap();
    assert_eq!(rs.open(&mint(&w, API)).unwrap().client_id(), "app");
}

#[test]
fn each_missing_or_misplaced_key_set_is_refused_at_build() {
    let w = world();
    let as_public = w.issuer.verification_keys().clone();
    // No RS keys, no AS keys.
    let e = ResourceServer::builder(API, AS).issuer_keys(as_public.clone()).build().unwrap_err();
    assert_eq!(e, Error::Misuse(Misuse::MissingKeys("decryption keys")));
    let e = ResourceServer::builder(API, AS).decryption_keys(own_keys(&w)).build().unwrap_err();
    assert_eq!(e, Error::Misuse(Misuse::MissingKeys("issuer keys")));
    // The two sets swapped: the AS's public keys cannot decrypt, the RS's private key is no AS key.
    let e =
        ResourceServer::builder(API, AS).decryption_keys(as_public.clone()).issuer_keys(own_keys(&w)).build();
    assert!(matches!(e, Err(Error::InvalidKey(_))), "{e:?}");
    let e = ResourceServer::builder(API, AS)
        .decryption_keys(as_public)
        .issuer_keys(w.issuer.verification_keys().clone());
    assert!(matches!(e.build(), Err(Error::InvalidKey(_))));
    // An empty AS key set, a live AS source holding a private key.
    let e = ResourceServer::builder(API, AS)
        .decryption_keys(own_keys(&w))
        .issuer_keys(JwkSet::new(vec![]))
        .build();
    assert!(matches!(e, Err(Error::InvalidKey(_))), "{e:?}");
    let private: Arc<dyn JwkSource> = Arc::new(StaticJwkSource::new(own_keys(&w), "as.json"));
    let e = ResourceServer::builder(API, AS).decryption_keys(own_keys(&w)).issuer_key_source(private).build();
    assert!(matches!(e, Err(Error::InvalidKey(_))), "{e:?}");
    // A resource or issuer that is no absolute URI.
    let e = ResourceServer::builder("api", AS)
        .decryption_keys(own_keys(&w))
        .issuer_keys(w.issuer.verification_keys().clone())
        .build();
    assert!(e.is_err());
    let e = ResourceServer::builder(API, "as")
        .decryption_keys(own_keys(&w))
        .issuer_keys(w.issuer.verification_keys().clone())
        .build();
    assert_eq!(e.unwrap_err(), Error::Misuse(Misuse::NotAbsoluteUri("issuer")));
}

#[test]
fn open_with_demands_an_audience_and_takes_a_time() {
    let w = world();
    let rs = ResourceServer::builder(API, AS)
        .decryption_keys(own_keys(&w))
        .issuer_keys(w.issuer.verification_keys().clone())
        .validation(Validation::default().allow_subresources())
        .cache(16)
        .build()
        .unwrap();
    let tenant_token = mint(&w, TENANT);
    let at = rs.open_with(&OpenRequest::new(&tenant_token).audience(TENANT)).unwrap();
    assert_eq!(at.subject(), "alice");
    // The token is for the tenant; demanding the RS's own URI is another audience.
    let e = rs.open_with(&OpenRequest::new(&tenant_token).audience(API)).unwrap_err();
    assert_eq!(rejection(e), TokenRejection::WrongAudience);
    // A day later the token has expired, cached or not.
    let later = at.standard_claims().exp + 86_400;
    let e = rs.open_with(&OpenRequest::new(&tenant_token).audience(TENANT).at(later)).unwrap_err();
    assert_eq!(rejection(e), TokenRejection::Expired);
    assert!(rs.cache_stats().unwrap().hits >= 1);
}

#[tokio::test]
async fn open_with_async_matches_open_with() {
    let w = world();
    let rs = ResourceServer::builder(API, AS)
        .decryption_keys(own_keys(&w))
        .issuer_keys(w.issuer.verification_keys().clone())
        .build()
        .unwrap();
    let token = mint(&w, API);
    let at = rs.open_with_async(&OpenRequest::new(&token).audience(API)).await.unwrap();
    assert_eq!(at.subject(), "alice");
    let later = at.standard_claims().exp + 86_400;
    let e = rs.open_with_async(&OpenRequest::new(&token).at(later)).await.unwrap_err();
    assert_eq!(rejection(e), TokenRejection::Expired);
}
