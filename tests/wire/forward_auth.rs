//! Forward-auth over real sockets: each proxy's way of naming the original request, the answers
//! shaped for what proxies pass on, and the documents it serves itself.
#![cfg(feature = "gateway")]

use jwe_mint::wire::{ConfigError, Gateway, OriginalRequest};

use crate::gateway_world::*;

/// A subrequest for `method target` the way nginx's `auth_request` sends it.
fn nginx(method: &str, target: &str, token: Option<&str>, extra: &str) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "GET /_auth HTTP/1.0\r\nHost: api.example.com\r\nX-Original-Method: {method}\r\nX-Original-URI: {target}\r\n{auth}{extra}Connection: close\r\n\r\n"
    )
}

async fn start(gateway: Gateway) -> std::net::SocketAddr {
    let (addr, stop) = run(gateway).await;
    // Runs until the test's runtime ends.
    std::mem::forget(stop);
    addr
}

#[tokio::test]
async fn the_original_request_decides_and_the_identity_comes_back_in_headers() {
    bounded(async {
        let world = World::new();
        let gateway = Gateway::forward_auth(world.rs()).unwrap().require_scope("photos.read").unwrap();
        let addr = start(gateway).await;
        let (good, unscoped) = (world.mint(), world.mint_for(RESOURCE, "admin"));

        let ok = send(addr, &nginx("POST", "/photos/1", Some(&good), "")).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-auth-subject"), Some("alice"));
        assert_eq!(ok.header("x-auth-client-id"), Some(CLIENT));
        assert_eq!(ok.header("x-auth-scope"), Some("photos.read"));
        assert_eq!(ok.header("x-auth-claims"), None, "off by default: large headers break nginx");
        assert!(ok.body.is_empty());

        let none = send(addr, &nginx("GET", "/photos/1", None, "")).await;
        assert_eq!(none.status, 401);
        let challenges: Vec<_> = none.headers.iter().filter(|(n, _)| n == "www-authenticate").collect();
        assert_eq!(challenges.len(), 1, "{:?}", none.headers);
        assert!(challenges[0]
            .1
            .contains("resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""));

        let forbidden = send(addr, &nginx("GET", "/photos/1", Some(&unscoped), "")).await;
        assert_eq!(forbidden.status, 403);
        assert!(forbidden.header("www-authenticate").unwrap().contains("insufficient_scope"));

        // A query token next to the header one: 400 when proxying, 401 here (nginx turns anything
        // but 2xx, 401 and 403 into a 500).
        let twice = send(addr, &nginx("GET", "/photos/1?a=1;access_token=x", Some(&good), "")).await;
        assert_eq!(twice.status, 401);
        assert!(twice.header("www-authenticate").unwrap().contains("invalid_request"));
        // Malformed original-request headers are the same.
        let bad = send(addr, &nginx("GE T", "/photos/1", Some(&good), "")).await;
        assert_eq!(bad.status, 401);
        let repeated = send(addr, &nginx("GET", "/a", Some(&good), "X-Original-URI: /b\r\n")).await;
        assert_eq!(repeated.status, 401);
    })
    .await;
}

#[tokio::test]
async fn traefik_caddy_and_envoy_name_the_original_request_their_own_way() {
    bounded(async {
        let world = World::new();
        let token = world.mint();
        let traefik = start(Gateway::forward_auth(world.rs()).unwrap()).await;
        let request = format!(
            "GET /auth HTTP/1.1\r\nHost: fa\r\nX-Forwarded-Method: DELETE\r\nX-Forwarded-Uri: /photos/2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let answer = send(traefik, &request).await;
        assert_eq!((answer.status, answer.header("x-auth-subject")), (200, Some("alice")));
        // The resource's origin is configuration: X-Forwarded-Host changes nothing in the challenge.
        let anonymous = send(traefik, "GET /auth HTTP/1.1\r\nHost: fa\r\nX-Forwarded-Uri: /p\r\nX-Forwarded-Host: evil.example\r\n\r\n").await;
        assert_eq!(anonymous.status, 401);
        assert!(!anonymous.header("www-authenticate").unwrap().contains("evil"));

        let envoy = Gateway::forward_auth(world.rs()).unwrap().path_prefix("/ext_authz").unwrap().claims_header(true);
        let envoy = start(envoy).await;
        let answer = send(envoy, &format!("PUT /ext_authz/photos/3?x=1 HTTP/1.1\r\nHost: fa\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n")).await;
        assert_eq!(answer.status, 200);
        assert!(answer.header("x-auth-claims").is_some(), "asked for");
        let outside = send(envoy, &format!("GET /elsewhere HTTP/1.1\r\nHost: fa\r\nAuthorization: Bearer {token}\r\n\r\n")).await;
        assert_eq!(outside.status, 401, "outside the prefix");
    })
    .await;
}

#[tokio::test]
async fn the_documents_are_served_when_asked_directly_and_never_authorize_a_subrequest() {
    bounded(async {
        let world = World::new();
        let addr = start(Gateway::forward_auth(world.rs()).unwrap()).await;
        let metadata = send(addr, &get("/.well-known/oauth-protected-resource", None, "")).await;
        assert_eq!(metadata.status, 200);
        let doc: serde_json::Value = serde_json::from_slice(&metadata.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(send(addr, &get("/.well-known/jwks.json", None, "")).await.status, 200);
        // A subrequest about the metadata path is judged like any other: no token, 401.
        let sub = send(addr, &nginx("GET", "/.well-known/oauth-protected-resource", None, "")).await;
        assert_eq!(sub.status, 401);
    })
    .await;
}

#[tokio::test]
async fn a_client_cannot_choose_the_request_that_is_judged() {
    bounded(async {
        let world = World::new();
        let token = world.mint();
        // Behind Caddy: Caddy sets X-Forwarded-Uri; the client added X-Original-URI naming a
        // harmless target to hide a query token.
        let sub = format!(
            "GET /auth HTTP/1.1\r\nHost: fa\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /p?access_token=x\r\nX-Original-URI: /p\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let auto = start(Gateway::forward_auth(world.rs()).unwrap()).await;
        let answer = send(auto, &sub).await;
        assert_eq!(answer.status, 401, "both families: refused");
        assert!(answer.header("www-authenticate").unwrap().contains("invalid_request"));
        let caddy = Gateway::forward_auth(world.rs()).unwrap().original_request(OriginalRequest::XForwarded).unwrap();
        let caddy = start(caddy).await;
        assert_eq!(send(caddy, &sub).await.status, 401, "the query token is seen");
        let nginx = Gateway::forward_auth(world.rs()).unwrap().original_request(OriginalRequest::XOriginal).unwrap();
        let nginx = start(nginx).await;
        // nginx always sets X-Original-URI; without it the proxy is misconfigured: refused.
        let without = format!("GET /auth HTTP/1.1\r\nHost: fa\r\nX-Forwarded-Uri: /p\r\nAuthorization: Bearer {token}\r\n\r\n");
        assert_eq!(send(nginx, &without).await.status, 401);
        assert_eq!(send(nginx, &nginx_subrequest_for(&token)).await.status, 200);
    })
    .await;
}

fn nginx_subrequest_for(token: &str) -> String {
    nginx("GET", "/p", Some(token), "")
}

#[test]
fn forward_auth_options_are_checked() {
    let world = World::new();
    let proxy = Gateway::new(world.rs(), "http://127.0.0.1:1").unwrap();
    assert!(matches!(
        proxy.clone().path_prefix("/x"),
        Err(ConfigError::Invalid { option: "path_prefix", .. })
    ));
    assert!(matches!(
        proxy.original_request(OriginalRequest::Path),
        Err(ConfigError::Invalid { option: "original_request", .. })
    ));
    let fa = Gateway::forward_auth(world.rs()).unwrap();
    for bad in ["x", "/x/", "/a b", ""] {
        assert!(fa.clone().path_prefix(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(fa.forward_token(), Err(ConfigError::Invalid { option: "forward_token", .. })));
}
