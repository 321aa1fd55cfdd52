//! DPoP across jwe-mint's own three pieces, over real sockets on 127.0.0.1: the client's
//! `TokenBook` with a DPoP key gets a bound token from the `AuthorizationServer` (its proof
//! checked there) after discovering it from the gateway's RFC 9728 metadata, then calls the
//! gateway under `require_dpop` with a fresh proof; the upstream learns the key.
#![cfg(feature = "gateway")]

use std::sync::Arc;

use jwe_mint::dpop::DpopKey;
use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{
    AuthorizationServer, AuthorizedClient, Gateway, HttpFetcher, RegisteredClient, TokenBook,
};

use crate::gateway_world::{bounded, Upstream};

const SECRET: &str = "correct horse battery staple";

#[tokio::test]
async fn a_dpop_client_gets_a_bound_token_from_our_as_and_uses_it_at_our_gateway() {
    bounded(async {
        // The gateway's address is the resource: the client files its token under that URL.
        let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resource = format!("http://127.0.0.1:{}", gateway_listener.local_addr().unwrap().port());
        let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", as_listener.local_addr().unwrap().port());

        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let mut registry = Registry::default();
        let rs_public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
        registry.insert(ResourceEntry::new(&resource, ["photos.read"], rs_public).unwrap()).unwrap();
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let server = AuthorizationServer::builder(Issuer::builder(&issuer, &as_key).registry(registry))
            .client(
                RegisteredClient::new("photo-app", SECRET, "alice")
                    .unwrap()
                    .scope("photos.read")
                    .resources([resource.as_str()])
                    .dpop_bound_access_tokens(true),
            )
            .unwrap()
            .build()
            .unwrap();
        let as_public = server.issuer().verification_keys().clone();
        let app = server.router();
        tokio::spawn(async move {
            let _ = axum::serve(as_listener, app).await;
        });

        let (up, up_addr) = Upstream::start().await;
        let rs = ResourceServer::builder(&resource, &issuer)
            .decryption_keys(JwkSet::new(vec![rs_key]))
            .issuer_keys(as_public)
            .build()
            .unwrap();
        let gateway = Gateway::new(rs, &format!("http://{up_addr}")).unwrap().require_dpop();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(gateway.serve(gateway_listener, async {
            let _ = stopped.await;
        }));

        let key = DpopKey::generate().unwrap();
        let jkt = key.thumbprint().to_owned();
        let fetcher = HttpFetcher::builder().allow_http_loopback(true).build().unwrap();
        let book = TokenBook::builder(&issuer, "photo-app", SECRET.to_owned())
            .fetcher(Arc::new(fetcher))
            .dpop_key(key)
            .build()
            .unwrap();
        let client = AuthorizedClient::new(book);
        // No token yet: the gateway's 401 names its metadata, which names our AS.
        for path in ["/photos/1", "/photos/2"] {
            let response = client.get(&format!("{resource}{path}")).await.unwrap();
            assert_eq!(response.status(), 200, "{path}: {:?}", String::from_utf8_lossy(response.body()));
        }
        let seen = up.seen();
        assert_eq!(seen.len(), 2);
        for request in &seen {
            assert_eq!(request.one("x-auth-dpop-jkt"), Some(jkt.as_str()), "{:?}", request.headers);
            assert_eq!(request.one("x-auth-subject"), Some("alice"));
        }
        let _ = stop.send(());
    })
    .await;
}
