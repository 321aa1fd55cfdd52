//! The client side with DPoP (RFC 9449) over real HTTPS on 127.0.0.1: a `TokenBook` with a DPoP
//! key proves it at the token endpoint and gets DPoP tokens, `AuthorizedClient` sends them as
//! `Authorization: DPoP` with a fresh proof, nonces are followed once at both servers, a Bearer
//! answer stays Bearer; and the rules for a token response that does not echo its `resource`.
//! The scripted servers check every proof with the library's `DpopValidation`.
#![cfg(feature = "axum")]

use crate::dpop_world::{DpopWorld, TOKEN};
use crate::servers::{bounded, photos_issuer, photos_token, Pki, PHOTOS};

use std::sync::Arc;

use jwe_mint::dpop::DpopKey;
use jwe_mint::wire::{AuthorizedClient, ClientError, TokenBook};
use serde_json::{json, Value};

fn book(pki: &Pki, world: &DpopWorld, key: Option<&DpopKey>) -> TokenBook {
    let mut builder = TokenBook::builder(&world.script.issuer, "app", "s3cret".to_string())
        .fetcher(Arc::new(pki.fetcher()));
    if let Some(key) = key {
        builder = builder.dpop_key(key.clone());
    }
    builder.build().unwrap()
}

fn body(response: &http::Response<bytes::Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_book_proves_its_key_at_the_as_and_sends_dpop_tokens_with_ath() {
    bounded(async {
        let pki = Pki::new();
        let w = DpopWorld::start(&pki, |_| {}).await;
        let key = DpopKey::generate().unwrap();
        let client = AuthorizedClient::new(book(&pki, &w, Some(&key)));
        // No token: 401 (a DPoP challenge naming the metadata), metadata, token request with a
        // proof, then the request as DPoP.
        let r = client.get(&format!("{}?page=2", w.data())).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(body(&r), json!({"scheme": "DPoP", "token": TOKEN, "jkt": key.thumbprint()}));
        assert_eq!(w.script.log(), ["rs 401 no token", "as 200", &format!("rs 200 DPoP {TOKEN}")]);
        let as_proof = w.script.as_proofs.lock().unwrap()[0].clone();
        assert_eq!(as_proof["htm"], "POST");
        assert_eq!(as_proof["htu"], format!("{}/token", w.script.issuer));
        let rs_proof = w.script.rs_proofs.lock().unwrap()[0].clone();
        assert_eq!(rs_proof["htm"], "GET");
        assert_eq!(rs_proof["htu"], w.data(), "htu without the query");
        assert!(rs_proof["ath"].is_string());
        let token = client.book().token_for(&w.data()).unwrap();
        assert!(token.is_dpop());
        assert_eq!(token.scheme(), "DPoP");
        // A second request: a fresh proof (another jti), no new token.
        assert_eq!(client.get(&w.data()).await.unwrap().status(), 200);
        let proofs = w.script.rs_proofs.lock().unwrap().clone();
        assert_eq!(proofs.len(), 2);
        assert_ne!(proofs[0]["jti"], proofs[1]["jti"]);
        assert_eq!(w.script.as_proofs.lock().unwrap().len(), 1);
        // A book without a key sends no proof: this AS refuses it.
        let plain = book(&pki, &w, None);
        let e = plain.obtain(&w.script.rs).await.unwrap_err();
        assert!(
            matches!(e, ClientError::TokenEndpoint { ref code, .. } if code == "invalid_dpop_proof"),
            "{e}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_dpop_nonce_at_the_as_is_retried_once_and_the_nonce_kept() {
    bounded(async {
        let pki = Pki::new();
        let w = DpopWorld::start(&pki, |s| s.as_nonce = Some("as-nonce-1".into())).await;
        let key = DpopKey::generate().unwrap();
        let book = book(&pki, &w, Some(&key));
        let token = book.obtain(&w.script.rs).await.unwrap();
        assert!(token.is_dpop());
        assert_eq!(w.script.log(), ["as 400 use_dpop_nonce", "as 200"]);
        assert_eq!(w.script.as_proofs.lock().unwrap()[0]["nonce"], "as-nonce-1");
        // The next token request carries the nonce at once.
        let other = format!("{}/other", w.script.rs);
        book.obtain(&other).await.unwrap_err(); // the script echoes the RS's resource only
        assert_eq!(w.script.log()[2], "as 200");
        assert_eq!(w.script.log().len(), 3);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_dpop_nonce_is_followed_at_most_once_and_only_to_a_valid_nonce() {
    bounded(async {
        let pki = Pki::new();
        let key = DpopKey::generate().unwrap();
        // The AS gives a nonce it never accepts: the nonce is tried once, then the refusal.
        let w = DpopWorld::start(&pki, |s| {
            s.as_nonce = Some("wanted".into());
            s.as_nonce_given = Some("given".into());
        })
        .await;
        let e = book(&pki, &w, Some(&key)).obtain(&w.script.rs).await.unwrap_err();
        assert_eq!(e.oauth_code(), Some("use_dpop_nonce"), "{e}");
        assert_eq!(w.script.log(), ["as 400 use_dpop_nonce", "as 400 use_dpop_nonce"]);
        // A `DPoP-Nonce` that is no RFC 9449 §8.1 nonce (a space) is not followed at all.
        let w = DpopWorld::start(&pki, |s| {
            s.as_nonce = Some("wanted".into());
            s.as_nonce_given = Some("not a nonce".into());
        })
        .await;
        let e = book(&pki, &w, Some(&key)).obtain(&w.script.rs).await.unwrap_err();
        assert_eq!(e.oauth_code(), Some("use_dpop_nonce"), "{e}");
        assert_eq!(w.script.log(), ["as 400 use_dpop_nonce"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_dpop_nonce_at_the_rs_is_retried_once_and_the_nonce_kept() {
    bounded(async {
        let pki = Pki::new();
        let w = DpopWorld::start(&pki, |s| s.rs_nonce = Some("rs-nonce-7".into())).await;
        let key = DpopKey::generate().unwrap();
        let client = AuthorizedClient::new(book(&pki, &w, Some(&key)));
        client.book().obtain(&w.script.rs).await.unwrap();
        let r = client.get(&w.data()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(w.script.log(), ["as 200", "rs 401 use_dpop_nonce", &format!("rs 200 DPoP {TOKEN}")]);
        assert_eq!(w.script.rs_proofs.lock().unwrap()[0]["nonce"], "rs-nonce-7");
        // The nonce is kept for the RS's origin: the next request needs no retry.
        assert_eq!(client.get(&w.data()).await.unwrap().status(), 200);
        assert_eq!(w.script.log().len(), 4);
        // The AS (another origin) never saw it.
        assert!(w.script.as_proofs.lock().unwrap()[0].get("nonce").is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_answer_to_a_dpop_request_is_kept_and_sent_as_bearer() {
    bounded(async {
        let pki = Pki::new();
        let w = DpopWorld::start(&pki, |s| {
            s.answer = json!({"access_token": "plain-bearer", "token_type": "Bearer", "resource": s.rs});
        })
        .await;
        let key = DpopKey::generate().unwrap();
        let client = AuthorizedClient::new(book(&pki, &w, Some(&key)));
        let token = client.book().obtain(&w.script.rs).await.unwrap();
        assert!(!token.is_dpop());
        assert_eq!(token.scheme(), "Bearer");
        // The token request still carried a proof.
        assert_eq!(w.script.as_proofs.lock().unwrap().len(), 1);
        let r = client.get(&w.data()).await.unwrap();
        assert_eq!(body(&r)["scheme"], "Bearer");
        assert_eq!(w.script.log(), ["as 200", "rs 200 Bearer plain-bearer proofs=0"]);
        // Any other token type is refused.
        let w = DpopWorld::start(&pki, |s| {
            s.answer = json!({"access_token": "t", "token_type": "mac", "resource": s.rs});
        })
        .await;
        let e = book(&pki, &w, Some(&key)).obtain(&w.script.rs).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidTokenResponse { .. }), "{e}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unechoed_resource_is_filed_only_for_one_named_resource_its_aud_header_names() {
    bounded(async {
        let pki = Pki::new();
        let (as_key, rs_key) =
            (jwe_mint::jwk::Jwk::generate(jwe_mint::jwk::Curve::P256).unwrap(), crate::servers::key());
        // A jwe-mint token for PHOTOS (its protected header says `aud`), answered without
        // `resource`, by an AS that ignores RFC 8707.
        let jwe = photos_token(&photos_issuer("https://as.example", &as_key, &rs_key));
        let answer = json!({"access_token": jwe, "token_type": "Bearer", "expires_in": 300});
        let w = DpopWorld::start(&pki, |s| {
            s.as_requires_proof = false;
            s.answer = answer.clone();
        })
        .await;
        // One resource named, and the header's `aud` is it: filed under it.
        let b = book(&pki, &w, None);
        assert_eq!(b.obtain(PHOTOS).await.unwrap().resource(), PHOTOS);
        assert_eq!(b.token_for(&format!("{PHOTOS}/albums")).unwrap().secret(), jwe);
        // Two named: which one it is for cannot be told.
        let b = book(&pki, &w, None);
        let e = b.client_credentials(&[PHOTOS, "https://friends.example.com"]).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidTokenResponse { .. }), "{e}");
        assert!(b.resources().is_empty());
        // One named, but the token's `aud` is another resource: refused, never sent there.
        let e = b.obtain("https://friends.example.com").await.unwrap_err();
        assert!(
            matches!(e, ClientError::InvalidTokenResponse { ref reason, .. } if reason.contains("aud")),
            "{e}"
        );
        assert!(b.resources().is_empty());
        assert!(b.token_for("https://friends.example.com/").is_none());
        // Also when the AS echoes a `resource` the token's `aud` does not name.
        let echoed =
            json!({"access_token": jwe, "token_type": "Bearer", "resource": "https://friends.example.com"});
        let e = b.insert_token_response(echoed.to_string().as_bytes(), None).unwrap_err();
        assert!(matches!(e, ClientError::InvalidTokenResponse { .. }), "{e}");
        assert_eq!(w.script.log().len(), 3);
    })
    .await
}
