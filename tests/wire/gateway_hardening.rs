//! What an attacker's review of the gateway found, each closed: a second token hidden in a form
//! body that is not UTF-8, the metrics listener's descriptors, `..` out of the upstream's base
//! path, a forward-auth subrequest answered with a document, a client's broken body counted as an
//! upstream failure, `X-Original-URI` reaching the upstream, and readiness during a drain.
#![cfg(feature = "gateway")]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jwe_mint::wire::{Gateway, OriginalRequest};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::gateway_world::*;

/// Sends raw bytes (not necessarily UTF-8) and reads one answer.
async fn send_bytes(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_answer(&mut stream).await
}

fn form_post(token: &str, content_type: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /f HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Type: "
    )
    .into_bytes();
    r.extend_from_slice(content_type);
    r.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn a_second_token_in_a_form_is_seen_in_any_bytes() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (addr, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let form = b"application/x-www-form-urlencoded";
        let cases: [(&[u8], &[u8]); 3] = [
            (form, b"\xff=1&access_token=second"),
            (b"application/x-www-form-urlencoded; charset=\xe9", b"a=1&access_token=second"),
            (form, b"a=1;access_token=second"),
        ];
        for (content_type, body) in cases {
            let answer = send_bytes(addr, &form_post(&token, content_type, body)).await;
            assert_eq!(
                answer.status,
                400,
                "{:?} / {:?}",
                String::from_utf8_lossy(content_type),
                String::from_utf8_lossy(body)
            );
        }
        // A form without a second token still passes, whatever its bytes.
        assert_eq!(send_bytes(addr, &form_post(&token, form, b"\xff=1&x=2")).await.status, 200);
        assert_eq!(up.seen().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn dot_segments_never_leave_the_upstreams_base_path() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (addr, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}/api")).unwrap()).await;
        let token = world.mint();
        for path in ["/../admin", "/%2e%2e/admin", "/..%2fadmin", "/.%2E/admin", "/a/./b"] {
            assert_eq!(send(addr, &get(path, Some(&token), "")).await.status, 400, "{path}");
        }
        assert_eq!(send(addr, &get("/photos/a..b", Some(&token), "")).await.status, 200);
        assert_eq!(up.seen().iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["/api/photos/a..b"]);
        // Without a base path there is nothing to leave: the upstream resolves it at its root.
        let (plain, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        assert_eq!(send(plain, &get("/a/../b", Some(&token), "")).await.status, 200);
    })
    .await;
}

#[tokio::test]
async fn the_original_request_fields_never_reach_the_upstream() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (addr, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let extra = "X-Original-URI: /admin\r\nX-Original-Method: DELETE\r\nX_Original_Uri: /x\r\n";
        assert_eq!(send(addr, &get("/p", Some(&world.mint()), extra)).await.status, 200);
        let seen = &up.seen()[0];
        assert!(
            !seen.headers.iter().any(|(n, _)| n.replace(['_', '.'], "-").starts_with("x-original-")),
            "{:?}",
            seen.headers
        );
    })
    .await;
}

#[tokio::test]
async fn a_broken_client_body_is_a_bad_request_not_an_upstream_failure() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let (addr, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        // A chunk extension with a quoted newline: hyper refuses the body after the head went up.
        let request = format!(
            "POST /echo HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"\n\"\r\nabc\r\n0\r\n\r\n"
        );
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await.unwrap();
        // The client's fault: 400, never a 502 blaming the upstream.
        assert_eq!(answer.status, 400);
    })
    .await;
}

#[tokio::test]
async fn the_metrics_listener_holds_a_bounded_number_of_connections() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let gateway = Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        tokio::spawn(async move { gateway.serve_metrics(listener, std::future::pending()).await });
        // Sixteen connections that send nothing hold every slot.
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(TcpStream::connect(metrics).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let waiting =
            tokio::spawn(async move { send(metrics, "GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n").await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "a 17th connection was served while 16 were held");
        held.pop();
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert_eq!(answer.status, 200);
    })
    .await;
}

#[tokio::test]
async fn readiness_turns_off_while_requests_in_flight_finish() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let gateway = Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        tokio::spawn({
            let gateway = gateway.clone();
            async move { gateway.serve_metrics(listener, std::future::pending()).await }
        });
        let readyz = async || send(metrics, "GET /readyz HTTP/1.1\r\nHost: m\r\n\r\n").await;
        let (addr, stop) = run(gateway).await;
        assert_eq!(readyz().await.status, 200);
        let token = world.mint();
        let slow = tokio::spawn(async move { send(addr, &get("/slow", Some(&token), "")).await });
        eventually("the slow request reached the upstream", async || up.started.load(Ordering::SeqCst) == 1)
            .await;
        drop(stop);
        let answer = readyz().await;
        assert_eq!(
            (answer.status, String::from_utf8_lossy(&answer.body).into_owned()),
            (503, "not ready: shutting down\n".to_owned())
        );
        assert_eq!(slow.await.unwrap().status, 200, "the request in flight finishes");
    })
    .await;
}

#[tokio::test]
async fn forward_auth_never_answers_a_subrequest_with_a_document() {
    bounded(async {
        let world = World::new();
        let rs = world.rs();
        // Envoy without a prefix: every request is a subrequest.
        let (bare, _s1) =
            run(Gateway::forward_auth(rs.clone()).unwrap().original_request(OriginalRequest::Path).unwrap())
                .await;
        assert_eq!(send(bare, &get("/.well-known/jwks.json?x=1", None, "")).await.status, 401);
        // With a prefix: under it a subrequest, outside it the proxy routing a document.
        let prefixed = Gateway::forward_auth(rs)
            .unwrap()
            .original_request(OriginalRequest::Path)
            .unwrap()
            .path_prefix("/ext_authz")
            .unwrap();
        let (prefixed, _s2) = run(prefixed).await;
        assert_eq!(send(prefixed, &get("/ext_authz/.well-known/jwks.json", None, "")).await.status, 401);
        assert_eq!(send(prefixed, &get("/.well-known/jwks.json", None, "")).await.status, 200);
    })
    .await;
}
