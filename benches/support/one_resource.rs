//! The world the gateway benches share: one authorization server, one resource server's key, and
//! tokens for `alice` through the client `app`, minted before any measurement.
//!
//! Included with `#[path = "support/one_resource.rs"] mod one_resource;`; each bench uses part of it.
#![allow(dead_code)]

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;

pub(crate) const AS: &str = "https://as.example.com";
pub(crate) const RS: &str = "https://photos.example.com";
pub(crate) const SCOPE: &str = "photos.read";

/// An issuer for [`RS`] alone and that resource server's private key.
pub(crate) struct OneResource {
    pub(crate) issuer: Issuer,
    pub(crate) rs_key: Jwk,
    grant: Grant,
}

impl OneResource {
    /// Fresh P-256 keys for the AS and the RS.
    pub(crate) fn new() -> OneResource {
        let as_key = Jwk::generate(Curve::P256).expect("AS key");
        let rs_key = Jwk::generate(Curve::P256).expect("RS key");
        let public = JwkSet::new(vec![rs_key.to_public().expect("public")]);
        let mut registry = Registry::default();
        registry.insert(ResourceEntry::new(RS, [SCOPE], public).expect("entry")).expect("registry");
        let issuer = Issuer::builder(AS, &as_key)
            .registry(registry)
            .allow_client("app", &[RS])
            .expect("client")
            .build()
            .expect("issuer");
        let grant = Grant::new("alice", "app", SCOPE, &[RS]).expect("grant");
        OneResource { issuer, rs_key, grant }
    }

    /// A new token for `alice` at [`RS`].
    pub(crate) fn token(&self) -> String {
        self.issuer.mint(&self.grant, RS).expect("mint").access_token
    }

    /// The resource server, trusting this issuer, with a token cache of `cache` entries.
    pub(crate) fn resource_server(&self, cache: usize) -> ResourceServer {
        ResourceServer::builder(RS, AS)
            .decryption_keys(JwkSet::new(vec![self.rs_key.clone()]))
            .issuer_keys(self.issuer.verification_keys().clone())
            .cache(cache)
            .build()
            .expect("resource server")
    }
}
