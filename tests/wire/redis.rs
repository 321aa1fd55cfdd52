//! Shared state for fleets on a real Redis (feature `redis`): each test starts its own
//! `redis-server` on a free loopback port, persistence off, killed when dropped. Two replay stores
//! ("gateways") on one Redis, expiry, a Redis stopped or hung (refused within the timeout), a
//! Redis restarted (fresh again by itself), and two authorization servers sharing refresh tokens.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwe_mint::dpop::{Remembered, ReplayStore, ReplayStoreError};
use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::wire::{AuthorizationServer, RedisRefreshTokens, RedisReplayStore, RegisteredClient};
use serde_json::Value;

use crate::redis_server::Redis;
use crate::servers::bounded;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_proof_remembered_at_one_gateway_is_a_replay_at_another() {
    let redis = Redis::start();
    let a = RedisReplayStore::new(&redis.url()).unwrap();
    let b = RedisReplayStore::new(&redis.url()).unwrap();
    let until = now() + 60;
    bounded(async {
        assert_eq!(a.remember("proof-1", until, now()).await, Ok(Remembered::Fresh));
        assert_eq!(b.remember("proof-1", until, now()).await, Ok(Remembered::Replayed));
        assert_eq!(a.remember("proof-1", until, now()).await, Ok(Remembered::Replayed));
        assert_eq!(b.remember("proof-2", until, now()).await, Ok(Remembered::Fresh));
        // Another prefix is another deployment.
        let c = RedisReplayStore::new(&redis.url()).unwrap().key_prefix("other:");
        assert_eq!(c.remember("proof-1", until, now()).await, Ok(Remembered::Fresh));
    })
    .await;
}

#[tokio::test]
async fn a_remembered_proof_is_forgotten_after_its_until() {
    let redis = Redis::start();
    let store = RedisReplayStore::new(&redis.url()).unwrap();
    bounded(async {
        let until = now();
        assert_eq!(store.remember("p", until, until).await, Ok(Remembered::Fresh));
        assert_eq!(store.remember("p", until, until).await, Ok(Remembered::Replayed), "kept through until");
        // Redis drops it one second after it was set (the rest of `until`, counted in whole
        // seconds from the second it was set in: never early).
        while now() <= until + 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.remember("p", now() + 60, now()).await, Ok(Remembered::Fresh));
    })
    .await;
}

/// The time a proof is kept is counted on the replica's clock, whatever Redis's says: a replica
/// whose clock is behind Redis's (here by 20 s) still keeps each proof for the rest of its window.
#[tokio::test]
async fn the_replicas_clock_decides_how_long_a_proof_is_kept() {
    let redis = Redis::start();
    let store = RedisReplayStore::new(&redis.url()).unwrap();
    bounded(async {
        let (behind, until) = (now() - 20, now() - 10);
        assert_eq!(store.remember("q", until, behind).await, Ok(Remembered::Fresh));
        assert_eq!(store.remember("q", until, behind).await, Ok(Remembered::Replayed), "kept for 11 s");
    })
    .await;
}

#[tokio::test]
async fn a_stopped_or_hung_redis_refuses_within_the_timeout() {
    let mut redis = Redis::start();
    let store = RedisReplayStore::new(&redis.url()).unwrap().timeout(Duration::from_millis(500));
    let until = now() + 60;
    bounded(async {
        assert_eq!(store.remember("a", until, now()).await, Ok(Remembered::Fresh));
        // Hung: connected, never answering.
        redis.signal("-STOP");
        let started = Instant::now();
        let hung = store.remember("b", until, now()).await;
        assert!(matches!(hung, Err(ReplayStoreError::Unavailable(_))), "{hung:?}");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        redis.signal("-CONT");
        // Stopped: the connection refused.
        redis.stop();
        for key in ["c", "d"] {
            let started = Instant::now();
            let down = store.remember(key, until, now()).await;
            assert!(matches!(down, Err(ReplayStoreError::Unavailable(_))), "{down:?}");
            assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        }
        // Through the DPoP check, that is the refusal `ReplayStoreUnavailable` (fail closed).
        let err = store.remember("e", until, now()).await.unwrap_err();
        assert!(err.to_string().contains("unavailable"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_restarted_redis_is_used_again_by_itself() {
    let mut redis = Redis::start();
    let store = RedisReplayStore::new(&redis.url()).unwrap().timeout(Duration::from_millis(500));
    let until = now() + 60;
    bounded(async {
        assert_eq!(store.remember("a", until, now()).await, Ok(Remembered::Fresh));
        redis.stop();
        assert!(store.remember("b", until, now()).await.is_err());
        redis.run();
        // The same store, no call to reconnect: within a few attempts it answers again (a new
        // Redis without persistence has forgotten "a").
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match store.remember("a", until, now()).await {
                Ok(r) => {
                    assert_eq!(r, Remembered::Fresh);
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "never reconnected: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(store.remember("a", until, now()).await, Ok(Remembered::Replayed));
    })
    .await;
}

#[test]
fn a_url_with_credentials_only_from_a_file_or_the_environment_and_never_shown() {
    let secret_url = "redis://user:hunter2-secret@127.0.0.1:6399/2";
    let e = RedisReplayStore::new(secret_url).unwrap_err().to_string();
    assert!(e.contains("file or an environment variable") && !e.contains("hunter2"), "{e}");
    let e = RedisRefreshTokens::new(secret_url).unwrap_err().to_string();
    assert!(!e.contains("hunter2"), "{e}");
    for bad in ["http://127.0.0.1", "redis://127.0.0.1/x", "rediss://127.0.0.1/x", "redis://127.0.0.1/0?a=b"]
    {
        assert!(RedisReplayStore::new(bad).is_err(), "{bad}");
    }
    let dir = std::env::temp_dir().join(format!("jwe-mint-redis-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("url");
    std::fs::write(&file, format!("{secret_url}\n")).unwrap();
    let store = RedisReplayStore::from_url_file(&file).unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("redacted@127.0.0.1:6399") && !shown.contains("hunter2"), "{shown}");
    let tokens = RedisRefreshTokens::from_url_file(&file).unwrap();
    assert!(!format!("{tokens:?}").contains("hunter2"));
    std::fs::remove_dir_all(&dir).unwrap();
    let e = RedisReplayStore::from_url_env("JWE_MINT_TEST_REDIS_URL_UNSET").unwrap_err().to_string();
    assert!(e.contains("JWE_MINT_TEST_REDIS_URL_UNSET"), "{e}");
}

const PHOTOS: &str = "https://photos.example.com";
const SECRET: &str = "correct horse battery staple";

/// An authorization server on a loopback port keeping its refresh tokens in `store`; its token
/// endpoint.
async fn authorization_server(store: RedisRefreshTokens) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let mut registry = Registry::default();
    registry
        .insert(
            ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![rs_key.to_public().unwrap()]))
                .unwrap(),
        )
        .unwrap();
    let server = AuthorizationServer::builder(
        Issuer::builder(&issuer, &Jwk::generate(Curve::P256).unwrap()).registry(registry),
    )
    .allow_refresh_tokens_for_client_credentials()
    .refresh_token_store(Arc::new(store))
    .client(
        RegisteredClient::new("photo-app", SECRET, "alice")
            .unwrap()
            .scope("photos.read")
            .resources([PHOTOS])
            .home_resource(PHOTOS),
    )
    .unwrap()
    .build()
    .unwrap();
    let endpoint = server.token_endpoint().to_owned();
    let app = server.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    endpoint
}

/// Posts `form` to `endpoint` as the client; the status and the JSON body.
async fn post(endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let r = reqwest::Client::new()
        .post(endpoint)
        .basic_auth("photo-app", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.unwrap()).unwrap())
}

async fn refresh(endpoint: &str, token: &str) -> (u16, Value) {
    post(endpoint, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

#[tokio::test]
async fn two_authorization_servers_on_one_redis_rotate_and_revoke_as_one() {
    let mut redis = Redis::start();
    bounded(async {
        let a = authorization_server(RedisRefreshTokens::new(&redis.url()).unwrap()).await;
        let b = authorization_server(RedisRefreshTokens::new(&redis.url()).unwrap()).await;
        let (status, body) = post(&a, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200, "{body}");
        let first = body["refresh_token"].as_str().unwrap().to_owned();
        // Issued by A, rotated once at B.
        let (status, body) = refresh(&b, &first).await;
        assert_eq!(status, 200, "{body}");
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert!(body["access_token"].is_string());
        // The successor works at A (and is spent there).
        let (status, body) = refresh(&a, &second).await;
        assert_eq!(status, 200, "{body}");
        let third = body["refresh_token"].as_str().unwrap().to_owned();
        // `first` again, at A: refused, and the family's live token (`third`) revoked with it.
        let (status, body) = refresh(&a, &first).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let (status, body) = refresh(&b, &third).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "family not revoked: {body}"
        );
        // Another family is untouched; with Redis down, a refresh is 503, never an unchecked token.
        let (_, body) = post(&b, &[("grant_type", "client_credentials")]).await;
        let other = body["refresh_token"].as_str().unwrap().to_owned();
        redis.stop();
        let (status, body) = refresh(&a, &other).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("server_error")), "{body}");
    })
    .await;
}

/// `rediss://`: the replay store talks TLS to Redis, trusting the CA it is given (only); a store
/// trusting another CA, or the platform's roots, is refused by the handshake and refuses the
/// proof (fail closed); a CA for a plain `redis://` URL is a configuration error.
#[tokio::test]
async fn a_replay_store_over_tls_trusts_only_its_ca() {
    let pki = crate::servers::Pki::new();
    let redis = Redis::start_tls(&pki.server_cert_pem, &pki.server_key_pem);
    let store = RedisReplayStore::new(&redis.tls_url()).unwrap().ca_pem(pki.ca_pem.as_bytes()).unwrap();
    assert!(format!("{store:?}").contains("rediss://127.0.0.1:"));
    let other_ca = crate::servers::Pki::new();
    let untrusting =
        RedisReplayStore::new(&redis.tls_url()).unwrap().ca_pem(other_ca.ca_pem.as_bytes()).unwrap();
    let platform_roots = RedisReplayStore::new(&redis.tls_url()).unwrap();
    let until = now() + 60;
    bounded(async {
        assert_eq!(store.remember("tls-1", until, now()).await, Ok(Remembered::Fresh));
        assert_eq!(store.remember("tls-1", until, now()).await, Ok(Remembered::Replayed));
        for refused in [&untrusting, &platform_roots] {
            assert!(
                matches!(
                    refused.remember("tls-2", until, now()).await,
                    Err(ReplayStoreError::Unavailable(_))
                ),
                "{refused:?}"
            );
        }
    })
    .await;
    // The same key over the plain port: one Redis.
    let plain = RedisReplayStore::new(&redis.url()).unwrap();
    assert_eq!(plain.remember("tls-1", until, now()).await, Ok(Remembered::Replayed));
    let e = RedisReplayStore::new(&redis.url()).unwrap().ca_pem(pki.ca_pem.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("rediss://"), "{e}");
    let e = RedisReplayStore::new(&redis.tls_url()).unwrap().ca_pem(b"not a certificate").unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}

/// Refresh tokens over TLS too: issued at one authorization server, rotated at another, both on
/// one `rediss://` Redis.
#[tokio::test]
async fn refresh_tokens_over_tls() {
    let pki = crate::servers::Pki::new();
    let redis = Redis::start_tls(&pki.server_cert_pem, &pki.server_key_pem);
    let store = || RedisRefreshTokens::new(&redis.tls_url()).unwrap().ca_pem(pki.ca_pem.as_bytes()).unwrap();
    assert!(format!("{:?}", store()).contains("rediss://"));
    bounded(async {
        let (a, b) = (authorization_server(store()).await, authorization_server(store()).await);
        let (status, body) = post(&a, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = refresh(&b, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{body}");
    })
    .await;
}
