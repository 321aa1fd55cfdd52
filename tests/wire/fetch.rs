//! The HTTPS fetcher against real servers on 127.0.0.1: the limits and refusals of
//! `jwe_mint::wire::HttpFetcher`, each asserted with its error, and each error naming the URL.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use bytes::Bytes;
use http::Method;
use jwe_mint::wire::{
    ConfigError, Fetcher, HttpFetcher, KeySetConfig, PublicAddressesOnly, RemoteJwkSet, WireError,
};
use servers::{
    bounded, free_origin, key, public_set, Pki, Reply, ReplyBody, RouterServer, SilentServer, TestServer,
};
use url::Url;

const MIB: usize = 1 << 20;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// `method url` with a small body, as a client of the fetcher builds it.
fn request(method: Method, url: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from_static(b"grant_type=client_credentials"))
        .unwrap()
}

/// The error names the URL, both as a field and in its message.
fn names(e: &WireError, u: &str) {
    assert_eq!(e.url(), u, "{e:?}");
    assert!(e.to_string().contains(u), "message does not name the URL: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_test_ca_fetches() {
    bounded(async {
        let pki = Pki::new();
        let server =
            TestServer::https(&pki, |_| Reply::json(r#"{"keys":[]}"#).header("cache-control", "max-age=60"))
                .await;
        let response = pki.fetcher().get(&url(&server.url("/jwks.json"))).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_ref(), br#"{"keys":[]}"#);
        assert_eq!(response.headers()["cache-control"], "max-age=60");
        assert_eq!(server.requests(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_is_refused_without_the_opt_in() {
    bounded(async {
        let server = TestServer::http(|_| Reply::json(r#"{"keys":[]}"#)).await;
        let u = server.url("/jwks.json");
        let e = HttpFetcher::new().unwrap().get(&url(&u)).await.unwrap_err();
        assert!(matches!(e, WireError::HttpNotAllowed { .. }), "{e:?}");
        names(&e, &u);
        assert_eq!(server.requests(), 0, "no request may be sent");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_with_the_opt_in_works_for_loopback_only() {
    bounded(async {
        let server = TestServer::http(|_| Reply::json(r#"{"keys":[]}"#)).await;
        let fetcher = HttpFetcher::builder().allow_http_loopback(true).build().unwrap();
        let response = fetcher.get(&url(&server.url("/jwks.json"))).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(server.requests(), 1);

        // A non-loopback host is refused before any resolution or connection.
        for u in
            ["http://jwks.example.com/jwks.json", "http://10.0.0.1/jwks.json", "http://[fd00::1]/jwks.json"]
        {
            let e = fetcher.get(&url(u)).await.unwrap_err();
            assert!(matches!(e, WireError::HttpNotLoopback { .. }), "{u}: {e:?}");
            names(&e, u);
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_an_untrusted_ca_is_refused() {
    bounded(async {
        let (trusted, other) = (Pki::new(), Pki::new());
        let server = TestServer::https(&other, |_| Reply::json(r#"{"keys":[]}"#)).await;
        let u = server.url("/jwks.json");
        let e = trusted.fetcher().get(&url(&u)).await.unwrap_err();
        assert!(matches!(&e, WireError::Tls { reason, .. } if reason.contains("UnknownIssuer")), "{e:?}");
        names(&e, &u);
        assert_eq!(server.requests(), 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_refused_and_not_followed() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |path| match path {
            "/old" => Reply::status(302).header("location", "/new"),
            _ => Reply::json(r#"{"keys":[]}"#),
        })
        .await;
        let u = server.url("/old");
        let e = pki.fetcher().get(&url(&u)).await.unwrap_err();
        assert!(matches!(e, WireError::Redirect { status: 302, .. }), "{e:?}");
        names(&e, &u);
        assert_eq!(server.requests(), 1, "the redirect target must not be requested");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_mib_body_is_refused_streamed_or_declared() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |path| {
            let body = match path {
                "/streamed" => ReplyBody::Stream(2 * MIB),
                "/declared" => ReplyBody::Sized(2 * MIB),
                "/exactly-1-mib" => ReplyBody::Stream(MIB),
                _ => ReplyBody::Stream(MIB + 1),
            };
            Reply { body, ..Reply::status(200) }
        })
        .await;
        let fetcher = pki.fetcher();
        for path in ["/streamed", "/declared", "/one-byte-over"] {
            let u = server.url(path);
            let e = fetcher.get(&url(&u)).await.map(|r| r.status()).unwrap_err();
            assert!(matches!(e, WireError::BodyTooLarge { limit: MIB, .. }), "{path}: {e:?}");
            names(&e, &u);
        }
        let at_limit = fetcher.get(&url(&server.url("/exactly-1-mib"))).await.unwrap();
        assert_eq!(at_limit.body().len(), MIB);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_hits_the_configured_limit() {
    bounded(async {
        let pki = Pki::new();
        let silent = SilentServer::tls(&pki).await;
        let fetcher = pki.fetcher_builder().timeout(Duration::from_secs(1)).build().unwrap();
        let started = Instant::now();
        let e = fetcher.get(&url(&silent.url())).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, WireError::Timeout { after, .. } if after == Duration::from_secs(1)), "{e:?}");
        names(&e, &silent.url());
        assert!(took >= Duration::from_millis(950) && took < Duration::from_millis(1900), "took {took:?}");
        assert_eq!(silent.connections(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_hits_the_default_5_s_limit() {
    bounded(async {
        let pki = Pki::new();
        let silent = SilentServer::tls(&pki).await;
        let started = Instant::now();
        let e = pki.fetcher().get(&url(&silent.url())).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, WireError::Timeout { after, .. } if after == Duration::from_secs(5)), "{e:?}");
        assert!(took >= Duration::from_millis(4950) && took < Duration::from_millis(6500), "took {took:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_refused() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |path| match path {
            "/not-json" => Reply::json("<html>oops</html>"),
            "/not-a-set" => Reply::json(r#"{"kids":[]}"#),
            _ => Reply::json(format!(r#"{{"keys":[{}]}}"#, key().to_private_json())),
        })
        .await;
        let fetcher: Arc<dyn Fetcher> = Arc::new(pki.fetcher());
        for path in ["/not-json", "/not-a-set", "/private-set"] {
            let u = server.url(path);
            let e = RemoteJwkSet::new(&u, Arc::clone(&fetcher), KeySetConfig::default()).await.unwrap_err();
            assert!(matches!(e, WireError::InvalidJwkSet { .. }), "{path}: {e:?}");
            names(&e, &u);
            assert!(!e.to_string().contains("oops"), "the body must not be echoed: {e}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_is_refused() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |_| Reply::status(404)).await;
        let u = server.url("/jwks.json");
        let e = RemoteJwkSet::new(&u, Arc::new(pki.fetcher()), KeySetConfig::default()).await.unwrap_err();
        assert!(matches!(e, WireError::Status { status: 404, .. }), "{e:?}");
        names(&e, &u);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_refused_by_the_option_literal_or_resolved() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |_| Reply::json(r#"{"keys":[]}"#)).await;
        let port = server.addr.port();
        // Without the option the same URLs work (so the refusals below are the option's doing).
        let open = pki.fetcher();
        assert_eq!(open.get(&url(&server.url("/"))).await.unwrap().status(), 200);
        assert_eq!(open.get(&url(&format!("https://localhost:{port}/"))).await.unwrap().status(), 200);
        assert_eq!(server.requests(), 2);

        let strict = pki.fetcher_builder().refuse_private_addresses(true).build().unwrap();
        // An IP literal: judged before connecting (the resolver is not consulted for literals).
        let literal = server.url("/jwks.json");
        let e = strict.get(&url(&literal)).await.unwrap_err();
        assert!(matches!(e, WireError::AddressRefused { addr, .. } if addr.is_loopback()), "{e:?}");
        names(&e, &literal);
        // IPv4-mapped IPv6 form of the same address.
        let mapped = format!("https://[::ffff:127.0.0.1]:{port}/jwks.json");
        let e = strict.get(&url(&mapped)).await.unwrap_err();
        assert!(matches!(e, WireError::AddressRefused { .. }), "{e:?}");
        // A name: judged on the resolved addresses, inside the connector's resolver.
        let named = format!("https://localhost:{port}/jwks.json");
        let e = strict.get(&url(&named)).await.unwrap_err();
        assert!(matches!(e, WireError::AddressRefused { addr, .. } if addr.is_loopback()), "{e:?}");
        names(&e, &named);
        assert_eq!(server.requests(), 2, "the refused fetches must not reach the server");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_refused_and_not_echoed() {
    bounded(async {
        let pki = Pki::new();
        let e = pki.fetcher().get(&url("https://user:hunter2@127.0.0.1:9/jwks.json")).await.unwrap_err();
        assert!(matches!(e, WireError::CredentialsInUrl { .. }), "{e:?}");
        assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("hunter2"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_is_a_connect_error() {
    bounded(async {
        let pki = Pki::new();
        // Bind then drop, so the port is (very likely) closed.
        let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let u = format!("https://127.0.0.1:{port}/jwks.json");
        let e = pki.fetcher().get(&url(&u)).await.unwrap_err();
        assert!(matches!(e, WireError::Connect { .. }), "{e:?}");
        names(&e, &u);
    })
    .await
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let dir = std::env::temp_dir().join(format!("jwe-mint-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("empty.pem");
    std::fs::write(&path, "not a certificate\n").unwrap();
    let e = HttpFetcher::builder().add_ca_file(&path).unwrap_err();
    assert!(matches!(&e, ConfigError::CaFile { path, .. } if path.ends_with("empty.pem")), "{e:?}");
    let pki = Pki::new();
    std::fs::write(&path, &pki.ca_pem).unwrap();
    assert!(HttpFetcher::builder().add_ca_file(&path).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_set_parses() {
    bounded(async {
        let pki = Pki::new();
        let k = key();
        let body = public_set(&[&k]);
        let server = TestServer::https(&pki, move |_| Reply::json(body.clone())).await;
        let keys =
            RemoteJwkSet::new(&server.url("/jwks.json"), Arc::new(pki.fetcher()), KeySetConfig::default())
                .await
                .unwrap();
        assert!(keys.snapshot().unwrap().find(k.kid().unwrap()).is_some());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_and_a_put_arrive_with_their_method_headers_and_body() {
    bounded(async {
        let pki = Pki::new();
        let (addr, origin) = free_origin();
        let echo = |method: Method, headers: http::HeaderMap, body: Bytes| async move {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            format!("{method} {content_type} {}", String::from_utf8_lossy(&body))
        };
        let _server =
            RouterServer::start(&pki, addr, axum::Router::new().route("/echo", post(echo).put(echo))).await;
        let fetcher = pki.fetcher();
        for method in [Method::POST, Method::PUT] {
            let response = fetcher.send(request(method.clone(), &format!("{origin}/echo"))).await.unwrap();
            assert_eq!(response.status(), 200);
            let expected =
                format!("{method} application/x-www-form-urlencoded grant_type=client_credentials");
            assert_eq!(response.body(), expected.as_bytes());
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_or_put_answer_over_the_body_limit_is_refused_streamed_or_declared() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |path| {
            let body = match path {
                "/streamed" => ReplyBody::Stream(2 * MIB),
                "/declared" => ReplyBody::Sized(2 * MIB),
                "/exactly-1-mib" => ReplyBody::Stream(MIB),
                _ => ReplyBody::Stream(MIB + 1),
            };
            Reply { body, ..Reply::status(200) }
        })
        .await;
        let fetcher = pki.fetcher();
        for method in [Method::POST, Method::PUT] {
            for path in ["/streamed", "/declared", "/one-byte-over"] {
                let u = server.url(path);
                let e = fetcher.send(request(method.clone(), &u)).await.map(|r| r.status()).unwrap_err();
                assert!(matches!(e, WireError::BodyTooLarge { limit: MIB, .. }), "{method} {path}: {e:?}");
                names(&e, &u);
            }
            let at_limit = fetcher.send(request(method, &server.url("/exactly-1-mib"))).await.unwrap();
            assert_eq!(at_limit.body().len(), MIB);
        }
        // A smaller limit holds the same way.
        let small = pki.fetcher_builder().max_body_bytes(1000).build().unwrap();
        let e = small
            .send(request(Method::POST, &server.url("/exactly-1-mib")))
            .await
            .map(|r| r.status())
            .unwrap_err();
        assert!(matches!(e, WireError::BodyTooLarge { limit: 1000, .. }), "{e:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_to_a_server_that_never_answers_hits_the_configured_limit() {
    bounded(async {
        let pki = Pki::new();
        let silent = SilentServer::tls(&pki).await;
        let fetcher = pki.fetcher_builder().timeout(Duration::from_secs(1)).build().unwrap();
        for method in [Method::POST, Method::PUT] {
            let started = Instant::now();
            let e = fetcher.send(request(method.clone(), &silent.url())).await.unwrap_err();
            let took = started.elapsed();
            assert!(
                matches!(e, WireError::Timeout { after, .. } if after == Duration::from_secs(1)),
                "{e:?}"
            );
            names(&e, &silent.url());
            assert!(
                took >= Duration::from_millis(950) && took < Duration::from_millis(1900),
                "{method} took {took:?}"
            );
        }
        assert_eq!(silent.connections(), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_of_a_post_or_put_is_refused_and_not_followed() {
    bounded(async {
        let pki = Pki::new();
        // 307 and 308 would repeat the method and the body at the new location (RFC 9110 §15.4).
        let server = TestServer::https(&pki, |path| match path {
            "/temporary" => Reply::status(307).header("location", "/new"),
            "/permanent" => Reply::status(308).header("location", "/new"),
            "/see-other" => Reply::status(303).header("location", "/new"),
            _ => Reply::json("{}"),
        })
        .await;
        let fetcher = pki.fetcher();
        let mut sent = 0;
        for method in [Method::POST, Method::PUT] {
            for (path, status) in [("/temporary", 307), ("/permanent", 308), ("/see-other", 303)] {
                let u = server.url(path);
                let e = fetcher.send(request(method.clone(), &u)).await.unwrap_err();
                assert!(
                    matches!(e, WireError::Redirect { status: s, .. } if s == status),
                    "{method} {path}: {e:?}"
                );
                names(&e, &u);
                sent += 1;
                assert_eq!(server.requests(), sent, "the redirect target must not be requested");
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_rules_hold_for_every_method_before_any_connection() {
    bounded(async {
        let pki = Pki::new();
        let plain = TestServer::http(|_| Reply::json("{}")).await;
        let secure = TestServer::https(&pki, |_| Reply::json("{}")).await;
        let port = secure.addr.port();
        let fetcher = pki.fetcher();
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let e = fetcher.send(request(method.clone(), &plain.url("/token"))).await.unwrap_err();
            assert!(matches!(e, WireError::HttpNotAllowed { .. }), "{method}: {e:?}");
            let e = fetcher
                .send(request(method.clone(), &format!("https://app:hunter2@127.0.0.1:{port}/token")))
                .await
                .unwrap_err();
            assert!(matches!(e, WireError::CredentialsInUrl { .. }), "{method}: {e:?}");
            assert!(!format!("{e} {e:?}").contains("hunter2"));
            let e = fetcher.send(request(method.clone(), "/token")).await.unwrap_err();
            assert!(matches!(e, WireError::InvalidUrl { .. }), "{method}: {e:?}");
            let e = fetcher.send(request(method.clone(), "ftp://127.0.0.1/token")).await.unwrap_err();
            assert!(matches!(e, WireError::UnsupportedScheme { .. }), "{method}: {e:?}");
        }
        assert_eq!((plain.requests(), secure.requests()), (0, 0), "no refused request may be sent");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_marked_public_addresses_only_is_refused_a_loopback_address_literal_or_resolved() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |_| Reply::json("{}")).await;
        let port = server.addr.port();
        let fetcher = pki.fetcher();
        let marked = |method: Method, url: &str| {
            let mut r = request(method, url);
            r.extensions_mut().insert(PublicAddressesOnly);
            r
        };
        for url in [server.url("/x"), format!("https://localhost:{port}/x")] {
            // Unmarked, the same fetcher reaches the server (so the refusals are the mark's doing).
            assert_eq!(fetcher.send(request(Method::POST, &url)).await.unwrap().status(), 200);
            for method in [Method::GET, Method::POST] {
                let e = fetcher.send(marked(method.clone(), &url)).await.unwrap_err();
                assert!(
                    matches!(e, WireError::AddressRefused { addr, .. } if addr.is_loopback()),
                    "{method} {url}: {e:?}"
                );
                names(&e, &url);
            }
        }
        assert_eq!(server.requests(), 2, "the marked requests must not reach the server");
        // The unmarked requests after them still go through (the public-only client is apart).
        assert_eq!(fetcher.send(request(Method::PUT, &server.url("/y"))).await.unwrap().status(), 200);
    })
    .await
}
