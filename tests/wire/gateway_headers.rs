//! The gateway's header and request-target rules over real sockets on 127.0.0.1, with raw HTTP/1.1
//! bytes: `Host` and the request target (RFC 9112 §3.2), the one-token rule judged on the request
//! as sent (RFC 6750 §2), identity and forwarding fields however spelled, `CONNECT` and
//! `OPTIONS *`, `Transfer-Encoding` in HTTP/1.0, and the response's trailer section.
#![cfg(feature = "gateway")]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jwe_mint::wire::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::gateway_world::*;

/// A gateway in front of a recording upstream.
async fn world() -> (World, Upstream, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let world = World::new();
    let (up, up_addr) = Upstream::start().await;
    let (gw, stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
    (world, up, gw, stop)
}

/// The connection ends: nothing more arrives before end of stream (a reset counts as closed).
async fn assert_closes(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the connection stayed open");
    if read.is_ok() {
        assert!(rest.is_empty(), "more after the answer: {:?}", String::from_utf8_lossy(&rest));
    }
}

/// Sends `request` on a new connection; the answer must be `status` and the connection must close.
async fn refused_and_closed(gw: SocketAddr, request: &str, status: u16) {
    let mut stream = TcpStream::connect(gw).await.unwrap();
    let answer = exchange(&mut stream, request).await;
    assert_eq!(answer.status, status, "{request:?}: {answer:?}");
    assert_eq!(answer.header("connection"), Some("close"), "{request:?}: {answer:?}");
    assert_closes(&mut stream).await;
}

/// RFC 9112 §3.2: a request with two `Host` fields, an invalid one, or (HTTP/1.1) none is 400 and
/// the connection closes; nothing reaches the upstream, not even the metadata is served.
#[tokio::test]
async fn host_must_be_one_valid_authority() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        let auth = format!("Authorization: Bearer {token}\r\n");
        let head = |host: &str| format!("GET /photos HTTP/1.1\r\n{host}{auth}\r\n");
        for host in [
            "Host: api.example.com\r\nHost: api.example.com\r\n",
            "Host: api.example.com\r\nHost: evil.example\r\n",
            "Host: a\"b.example\r\n",
            "Host: api.example.com evil.example\r\n",
            "Host: user@api.example.com\r\n",
            "Host: api.example.com/evil\r\n",
            "Host: api.example.com:80x\r\n",
            "Host: api.example.com:123456\r\n",
            "Host: api.example.com,evil.example\r\n",
            "Host: [::1\r\n",
            "Host: [not-ip]:80\r\n",
            "Host: \r\n",
            "",
        ] {
            refused_and_closed(gw, &head(host), 400).await;
        }
        let metadata = "GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        refused_and_closed(gw, metadata, 400).await;
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());

        // Valid authorities pass, as they came.
        for host in ["api.example.com:8443", "127.0.0.1", "[::1]:8080", "rs_1.internal"] {
            let answer = send(gw, &head(&format!("Host: {host}\r\n"))).await;
            assert_eq!(answer.status, 200, "{host}: {answer:?}");
            assert_eq!(up.seen().last().unwrap().one("host"), Some(host));
        }
        // HTTP/1.0 needs no Host.
        let answer = send(gw, &format!("GET /old HTTP/1.0\r\n{auth}\r\n")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    })
    .await;
}

/// RFC 9112 §3.2.2: an absolute-form target's authority replaces `Host`; a target of another
/// scheme, with user information, or in authority form for a method other than `CONNECT` is 400.
#[tokio::test]
async fn an_absolute_form_target_names_the_host() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        let auth = format!("Authorization: Bearer {token}\r\n");
        let request = format!(
            "GET http://other.example:8080/photos?x=1 HTTP/1.1\r\nHost: api.example.com\r\n{auth}\r\n"
        );
        let answer = send(gw, &request).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen = up.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/photos");
        assert_eq!(seen[0].one("host"), Some("other.example:8080"));
        assert_eq!(seen[0].one("x-forwarded-host"), Some("other.example:8080"));

        for target in [
            "ftp://api.example.com/photos",
            "http://user@api.example.com/photos",
            "http://user:pw@api.example.com/photos",
            "api.example.com:443",
        ] {
            let request = format!("GET {target} HTTP/1.1\r\nHost: api.example.com\r\n{auth}\r\n");
            refused_and_closed(gw, &request, 400).await;
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 1, "{:?}", up.seen());
    })
    .await;
}

/// RFC 6750 §2: the gateway judges "more than one method" on the request the client sent, not on
/// what remains after hop-by-hop removal: two `Content-Type` fields, a `Connection` field naming
/// a field the rule reads, and an `access_token` after `;` in the query are refused.
#[tokio::test]
async fn the_one_token_rule_judges_the_request_as_sent() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        let form = format!("a=1&access_token={token}");
        let post = |fields: &str| {
            format!(
                "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n{fields}Content-Length: {}\r\n\r\n{form}",
                form.len()
            )
        };
        for fields in [
            "Content-Type: text/plain\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            "Content-Type: text/plain, application/x-www-form-urlencoded\r\n",
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: Content-Type\r\n",
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: keep-alive, content-type\r\n",
        ] {
            let answer = send(gw, &post(fields)).await;
            assert_eq!(answer.status, 400, "{fields:?}: {answer:?}");
        }
        for fields in ["Connection: Authorization\r\n", "Connection: host\r\n", "Connection: Content-Length\r\n"] {
            let answer = send(gw, &get("/photos", Some(&token), fields)).await;
            assert_eq!(answer.status, 400, "{fields:?}: {answer:?}");
        }
        for query in ["a=1;access_token=x", "access_token=x;a=1", "a=1&b=2;access%5Ftoken=x"] {
            let answer = send(gw, &get(&format!("/photos?{query}"), Some(&token), "")).await;
            assert_eq!(answer.status, 400, "{query}: {answer:?}");
            assert!(answer.header("www-authenticate").unwrap().contains("invalid_request"), "{answer:?}");
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());
        // A plain form and a `;` elsewhere still pass.
        let plain = format!(
            "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1"
        );
        assert_eq!(send(gw, &plain).await.status, 200);
        assert_eq!(send(gw, &get("/photos?a=1;b=access_token", Some(&token), "")).await.status, 200);
    })
    .await;
}

/// Identity fields however separated (`-`, `_`, `.`) and cased never reach the upstream; the
/// client-IP and original-URL family is removed, `X-Real-IP` is the peer's address.
#[tokio::test]
async fn identity_and_forwarding_fields_are_stripped_however_spelled() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        let spoofs = "X.Auth.Subject: mallory\r\nx.auth_scope: admin\r\nX-Real-IP: 6.6.6.6\r\n\
                      X_Real_IP: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX.Client.IP: 6.6.6.6\r\n\
                      X-Original-URL: /admin\r\nX_Rewrite_URL: /admin\r\nX-Forwarded-Port: 443\r\n\
                      X_Forwarded_Port: 443\r\nX.Forwarded.Prefix: /admin\r\nX-Forwarded-Server: evil\r\n\
                      X-Forwarded-Anything: 1\r\nX_Forwarded: for=6.6.6.6\r\nX-Forwarded.For: 6.6.6.6\r\n\
                      X-Kept: 1\r\n";
        let answer = send(gw, &get("/photos", Some(&token), spoofs)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen = &up.seen()[0];
        let allowed = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"];
        for (name, value) in &seen.headers {
            let folded = name.to_ascii_lowercase().replace(['_', '.'], "-");
            if folded.starts_with("x-auth-") {
                assert!(!value.contains("mallory") && value != "admin", "{name}: {value}");
                assert_eq!(name.as_str(), folded, "a spelling of {folded} reached the upstream");
            }
            if folded.starts_with("x-forwarded")
                || folded.contains("client-ip")
                || folded.starts_with("x-real")
            {
                assert!(allowed.contains(&name.as_str()), "{name}: {value} reached the upstream");
            }
            for family in ["x-original-url", "x-rewrite-url"] {
                assert_ne!(folded, family, "{name}: {value} reached the upstream");
            }
        }
        assert_eq!(seen.one("x-auth-subject"), Some("alice"));
        assert_eq!(seen.one("x-auth-scope"), Some("photos.read"));
        assert_eq!(seen.one("x-real-ip"), Some("127.0.0.1"));
        assert_eq!(seen.one("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(seen.one("x-kept"), Some("1"));
    })
    .await;
}

/// `CONNECT` is 405 with `Allow`, authenticated or not; `OPTIONS *` is answered by the gateway
/// (RFC 9110 §9.3.6, §9.3.7); neither reaches the upstream.
#[tokio::test]
async fn connect_is_405_and_options_asterisk_is_answered_by_the_gateway() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        for auth in [format!("Authorization: Bearer {token}\r\n"), String::new()] {
            let request =
                format!("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n{auth}\r\n");
            let mut stream = TcpStream::connect(gw).await.unwrap();
            let answer = exchange(&mut stream, &request).await;
            assert_eq!(answer.status, 405, "{answer:?}");
            let allow = answer.header("allow").expect("Allow");
            assert!(allow.contains("GET") && !allow.contains("CONNECT"), "{allow}");
            assert_closes(&mut stream).await;
        }
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let options =
            format!("OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n\r\n");
        let answer = exchange(&mut stream, &options).await;
        assert!(matches!(answer.status, 200 | 204), "{answer:?}");
        // The connection goes on.
        assert_eq!(exchange(&mut stream, &get("/after", Some(&token), "")).await.status, 200);
        let answer = send(gw, "OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\n\r\n").await;
        assert!(matches!(answer.status, 200 | 204), "{answer:?}");
        // `*` is for OPTIONS only.
        refused_and_closed(
            gw,
            &format!("GET * HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n\r\n"),
            400,
        )
        .await;
        let paths: Vec<String> = up.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, ["/after"]);
    })
    .await;
}

/// RFC 9112 §6.1: `Transfer-Encoding` in an HTTP/1.0 request is faulty framing: 400, the
/// connection closes, and neither the body nor what follows reaches the upstream.
#[tokio::test]
async fn transfer_encoding_in_an_http_1_0_request_is_400_and_closes() {
    bounded(async {
        let (world, up, gw, _stop) = world().await;
        let token = world.mint();
        for coding in ["chunked", "identity", "gzip, chunked"] {
            let request = format!(
                "POST /upload HTTP/1.0\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n\
                 Transfer-Encoding: {coding}\r\nConnection: keep-alive\r\n\r\n\
                 5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
            );
            refused_and_closed(gw, &request, 400).await;
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());
    })
    .await;
}

/// An upstream that answers every request with a chunked `ok` and `trailers` after it, declaring
/// them in `Trailer`, and `Connection: x-secret` in its header section.
async fn trailer_upstream(trailers: &'static str, declared: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x-secret\r\n\
                     Trailer: {declared}\r\n\r\n2\r\nok\r\n0\r\n{trailers}\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// Reads a whole chunked response (the request asked to close) and returns its head and its
/// trailer fields, lowercased names.
async fn read_trailers(stream: &mut TcpStream) -> (Answer, Vec<(String, String)>) {
    let answer = read_head(stream).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("transfer-encoding"), Some("chunked"), "{answer:?}");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await.unwrap().unwrap();
    let text = String::from_utf8(rest).unwrap();
    // "2\r\nok\r\n0\r\n" then the trailer section and an empty line.
    let (body, trailers) = text.split_once("0\r\n").unwrap();
    assert_eq!(body, "2\r\nok\r\n");
    assert!(trailers.ends_with("\r\n"), "{trailers:?}");
    let trailers = trailers
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (answer, trailers)
}

/// RFC 9110 §6.5.1, §7.6.1: the upstream's trailer section loses the hop-by-hop fields (those
/// named in its `Connection` fields too), the identity fields and the fields no trailer may carry;
/// the others reach the client.
#[tokio::test]
async fn response_trailers_lose_hop_by_hop_and_forbidden_fields() {
    bounded(async {
        let world = World::new();
        const TRAILERS: &str = "Connection: x-named\r\nX-Named: 1\r\nKeep-Alive: timeout=1\r\n\
                                Upgrade: h2c\r\nProxy-Connection: close\r\nX-Secret: 1\r\n\
                                X-Auth-Subject: root\r\nX.Auth.Scope: admin\r\nWWW-Authenticate: Basic\r\n\
                                Set-Cookie: a=1\r\nContent-Length: 5\r\nX-Checksum: abc\r\n";
        const DECLARED: &str = "Connection, X-Named, Keep-Alive, Upgrade, Proxy-Connection, X-Secret, \
                                X-Auth-Subject, X.Auth.Scope, WWW-Authenticate, Set-Cookie, Content-Length, X-Checksum";
        let up_addr = trailer_upstream(TRAILERS, DECLARED).await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let request = get("/photos", Some(&token), "TE: trailers\r\nConnection: TE, close\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let (answer, trailers) = read_trailers(&mut stream).await;
        assert_eq!(trailers, [("x-checksum".to_owned(), "abc".to_owned())]);
        // `Trailer` announces only what may follow (`X-Named` is named by the trailers' own
        // `Connection`, unknown when the header section is sent); the header section's hop-by-hop
        // fields are gone as ever.
        assert_eq!(answer.header("trailer"), Some("x-named, x-checksum"), "{answer:?}");
        assert!(answer.header("x-secret").is_none() && answer.header("connection") != Some("x-secret"));
    })
    .await;
}
