//! The gateway's metrics listener: readiness follows the key sources, and a refreshing source's
//! refreshes, failures and age are exported.
#![cfg(feature = "gateway")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jwe_mint::jwk::{Freshness, JwkSet, JwkSource, KeySourceError};
use jwe_mint::wire::Gateway;
use tokio::net::TcpListener;

use crate::gateway_world::*;

/// The AS keys, or none while `down`; it reports itself as refreshed twice, failed three times.
#[derive(Debug)]
struct Flaky {
    keys: Arc<JwkSet>,
    down: AtomicBool,
}

impl JwkSource for Flaky {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(KeySourceError::Unavailable {
                location: "https://as.example.com/jwks".into(),
                reason: "stale past its cap".into(),
                source: None,
            });
        }
        Ok(Arc::clone(&self.keys))
    }

    fn location(&self) -> &str {
        "https://as.example.com/jwks"
    }

    fn freshness(&self) -> Option<Freshness> {
        Some(Freshness::new(Duration::from_secs(42), 2, 3))
    }
}

async fn get_metrics(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let answer = send(addr, &format!("GET {path} HTTP/1.1\r\nHost: m\r\n\r\n")).await;
    (answer.status, String::from_utf8(answer.body).unwrap())
}

#[tokio::test]
async fn readiness_follows_the_as_keys_and_their_refreshes_are_exported() {
    bounded(async {
        let world = World::new();
        let flaky =
            Arc::new(Flaky { keys: Arc::new(world.issuer.verification_keys().clone()), down: false.into() });
        let rs =
            world.rs_builder().issuer_key_source(Arc::clone(&flaky) as Arc<dyn JwkSource>).build().unwrap();
        let (_up, up_addr) = Upstream::start().await;
        let gateway = Gateway::new(rs, &format!("http://{up_addr}")).unwrap().log_lines_dropped(|| 7);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn({
            let gateway = gateway.clone();
            async move {
                gateway
                    .serve_metrics(listener, async {
                        let _ = stopped.await;
                    })
                    .await
            }
        });
        let (addr, _stop_gateway) = run(gateway).await;

        assert_eq!(get_metrics(metrics, "/readyz").await, (200, "ready\n".into()));
        let page = get_metrics(metrics, "/metrics").await.1;
        for line in [
            "jwe_mint_key_set_refreshes_total{keys=\"issuer\",outcome=\"ok\"} 2",
            "jwe_mint_key_set_refreshes_total{keys=\"issuer\",outcome=\"failed\"} 3",
            "jwe_mint_key_set_age_seconds{keys=\"issuer\"} 42.0",
            "jwe_mint_log_lines_dropped_total 7",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
        }
        // Fixed decryption keys do not refresh: no series for them.
        assert!(!page.contains("keys=\"decryption\""), "{page}");

        // The AS keys gone: not ready, the reason named; tokens are refused 503 meanwhile.
        flaky.down.store(true, Ordering::SeqCst);
        let (status, body) = get_metrics(metrics, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("stale past its cap"), "{body}");
        assert_eq!(get_metrics(metrics, "/healthz").await.0, 200, "alive while not ready");
        assert_eq!(send(addr, &get("/", Some(&world.mint()), "")).await.status, 503);
        let page = get_metrics(metrics, "/metrics").await.1;
        assert!(page.contains("jwe_mint_gateway_requests_total{outcome=\"keys_unavailable\"} 1"), "{page}");

        flaky.down.store(false, Ordering::SeqCst);
        assert_eq!(get_metrics(metrics, "/readyz").await.0, 200);
        assert_eq!(
            send(metrics, "POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n").await.status,
            405
        );
        let _ = stop.send(());
    })
    .await;
}
