//! The token layer end to end — Issuer (AS), Registry, ResourceServer (RS).

use std::sync::Arc;

use jwe_mint::error::{OAuthErrorCode, TokenRejection};
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::{hazmat, ContentEncryptionAlg, KeyManagementAlg, SigningAlg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::jws::{Header, Signer};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{OpenRequest, ResourceServer, ResourceServerBuilder, Validation};
use jwe_mint::{Error, LimitExceeded, Misuse};
use serde_json::{json, Value};

const AS: &str = "https://as.example.com";
const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com";
const SAAS: &str = "https://api.saas.com/data";
const PAY: &str = "https://pay.example.com";

struct World {
    as_key: Jwk,
    photos_key: Jwk,
    friends_key: Jwk,
    saas_key: Jwk,
    pay_key: Jwk,
    issuer: Issuer,
}

fn public(k: &Jwk) -> JwkSet {
    JwkSet::new(vec![k.to_public().unwrap()])
}

fn world() -> World {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let photos_key = Jwk::generate(Curve::P256).unwrap();
    let friends_key = Jwk::generate(Curve::X25519).unwrap();
    let saas_key = Jwk::generate(Curve::P384).unwrap();
    let pay_key = Jwk::generate(Curve::P256).unwrap();
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(PHOTOS, ["photos.read", "photos.write"], public(&photos_key)).unwrap())
        .unwrap();
    reg.insert(ResourceEntry::new(FRIENDS, ["friends.read"], public(&friends_key)).unwrap()).unwrap();
    reg.insert(ResourceEntry::new(SAAS, ["data.read"], public(&saas_key)).unwrap().covering_subresources())
        .unwrap();
    reg.insert(ResourceEntry::new(PAY, ["pay"], public(&pay_key)).unwrap().with_token_lifetime(300)).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(reg)
        .default_ttl(3600)
        .allow_client("photo-app", &[PHOTOS, FRIENDS, SAAS, PAY])
        .unwrap()
        .allow_client("friends-only", &[FRIENDS])
        .unwrap()
        .build()
        .unwrap();
    World { as_key, photos_key, friends_key, saas_key, pay_key, issuer }
}

fn rs(w: &World, resource: &str, key: &Jwk) -> ResourceServer {
    rs_with(w, resource, key, |b| b)
}

/// [`rs`] with settings of the builder (validation, cache, …).
fn rs_with(
    w: &World,
    resource: &str,
    key: &Jwk,
    settings: impl FnOnce(ResourceServerBuilder) -> ResourceServerBuilder,
) -> ResourceServer {
    settings(
        ResourceServer::builder(resource, AS)
            .decryption_keys(JwkSet::new(vec![key.clone()]))
            .issuer_keys(w.issuer.verification_keys().clone()),
    )
    .build()
    .unwrap()
}

fn oauth_code(e: &Error) -> OAuthErrorCode {
    match e {
        Error::OAuth { code, .. } => *code,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

fn rejection(e: Error) -> TokenRejection {
    match e {
        Error::InvalidToken(r) => r,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Signs `claims` with `signer` and encrypts the JWS to `rs_public` (as a hostile or buggy AS would).
fn craft(signer: &Signer, claims: &Value, rs_public: &Jwk, outer: &[(&str, Value)]) -> String {
    let jws = signer.sign(claims.to_string().as_bytes()).unwrap();
    let mut e = Encryptor::new(ContentEncryptionAlg::A256Gcm).protected_param("cty", "JWT");
    for (k, v) in outer {
        e = e.protected_param(k, v.clone());
    }
    e.recipient(rs_public, KeyManagementAlg::EcdhEsA256Kw).encrypt_compact(jws.as_bytes()).unwrap()
}

fn at_signer(key: &Jwk) -> Signer {
    let mut h = Header::new();
    h.insert("typ".into(), "at+jwt".into());
    Signer::new(key, SigningAlg::Es256, h).unwrap()
}

fn good_claims(aud: &str) -> Value {
    let t = now();
    json!({"iss": AS, "exp": t + 600, "aud": aud, "sub": "alice", "client_id": "photo-app", "iat": t, "jti": "j1", "scope": "photos.read"})
}

// ---- photos / friends ----------------------------------------------------------------------

#[test]
fn photos_friends_two_tokens_each_opened_only_by_its_rs() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read photos.write friends.read", &[PHOTOS, FRIENDS])
        .unwrap();
    let resp = w.issuer.mint_all(&grant).unwrap();
    assert_eq!(resp.tokens.len(), 2);
    let (photos_tok, friends_tok) = (&resp.tokens[0], &resp.tokens[1]);
    assert_eq!(photos_tok.scope, "photos.read photos.write");
    assert_eq!(friends_tok.scope, "friends.read");

    let photos = rs(&w, PHOTOS, &w.photos_key);
    let friends = rs(&w, FRIENDS, &w.friends_key);
    let p = photos.open(&photos_tok.access_token).unwrap();
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.client_id(), "photo-app");
    assert_eq!(p.scopes().collect::<Vec<_>>(), ["photos.read", "photos.write"]);
    let f = friends.open(&friends_tok.access_token).unwrap();
    assert_eq!(f.scopes().collect::<Vec<_>>(), ["friends.read"]);

    // Each RS holds no key for the other's token.
    assert!(matches!(photos.open(&friends_tok.access_token).unwrap_err(), Error::NoMatchingKey(_)));
    assert!(matches!(friends.open(&photos_tok.access_token).unwrap_err(), Error::NoMatchingKey(_)));

    let json = resp.to_json();
    assert_eq!(json["access_token"], photos_tok.access_token.as_str());
    assert_eq!(json["resource"], PHOTOS);
    assert_eq!(json["access_tokens"][1]["resource"], FRIENDS);
    assert_eq!(json["access_tokens"][1]["scope"], "friends.read");
    assert_eq!(json["token_type"], "Bearer");
}

#[test]
fn as_assigned_shard_response_names_resource_and_header_aud_matches() {
    let w = world();
    // The AS picks the user's home shard (here: friends) and must tell the client.
    let grant = Grant::new("bob", "photo-app", "friends.read", &[FRIENDS]).unwrap();
    let resp = w.issuer.mint_all(&grant).unwrap();
    let json = resp.to_json();
    assert_eq!(json["resource"], FRIENDS);
    assert!(json.get("access_tokens").is_none());
    let token = json["access_token"].as_str().unwrap();
    let headers = jwe::inspect(token, &DecryptPolicy::default()).unwrap();
    assert_eq!(headers.protected["aud"], FRIENDS);
    assert_eq!(headers.protected["iss"], AS);
    assert_eq!(headers.protected["cty"], "JWT");
    assert_eq!(headers.protected["kid"], w.friends_key.kid().unwrap());
    assert!(headers.protected.get("sub").is_none(), "the subject must not leak into the readable header");
    assert_eq!(rs(&w, FRIENDS, &w.friends_key).open(token).unwrap().subject(), "bob");
}

// ---- grants and sub-resources ------------------------------------------------------------

#[test]
fn grant_resource_outside_grant_is_invalid_target() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS]).unwrap();
    assert_eq!(oauth_code(&w.issuer.mint(&grant, FRIENDS).unwrap_err()), OAuthErrorCode::InvalidTarget);
}

#[test]
fn grant_second_resource_minted_later_on_refresh() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS, FRIENDS]).unwrap();
    let first = w.issuer.mint(&grant, PHOTOS).unwrap();
    let later = w.issuer.mint(&grant, FRIENDS).unwrap();
    assert!(rs(&w, PHOTOS, &w.photos_key).open(&first.access_token).is_ok());
    assert_eq!(
        rs(&w, FRIENDS, &w.friends_key).open(&later.access_token).unwrap().scopes().collect::<Vec<_>>(),
        ["friends.read"]
    );
}

#[test]
fn subresource_tenant_gets_exact_aud_and_demanded_audience_is_enforced() {
    let w = world();
    let t42 = format!("{SAAS}/tenant/42");
    let t43 = format!("{SAAS}/tenant/43");
    let grant = Grant::new("alice", "photo-app", "data.read", &[&t42]).unwrap();
    let tok = w.issuer.mint(&grant, &t42).unwrap();
    let headers = jwe::inspect(&tok.access_token, &DecryptPolicy::default()).unwrap();
    assert_eq!(headers.protected["aud"], t42.as_str());
    let saas = rs_with(&w, SAAS, &w.saas_key, |b| b.validation(Validation::default().allow_subresources()));
    let at = saas.open_with(&OpenRequest::new(&tok.access_token).audience(&t42)).unwrap();
    assert_eq!(at.standard_claims().aud.iter().collect::<Vec<_>>(), [t42.as_str()]);
    assert_eq!(
        rejection(saas.open_with(&OpenRequest::new(&tok.access_token).audience(&t43)).unwrap_err()),
        TokenRejection::WrongAudience
    );
    // Without opting in to sub-resources the RS only accepts its own exact URI.
    assert_eq!(
        rejection(rs(&w, SAAS, &w.saas_key).open(&tok.access_token).unwrap_err()),
        TokenRejection::WrongAudience
    );
}

#[test]
fn subresource_lookalike_uri_is_not_covered() {
    let w = world();
    let lookalike = "https://api.saas.com/database";
    let grant = Grant::new("alice", "photo-app", "data.read", &[lookalike]).unwrap();
    // Not covered by the client's allowed list either; the registry would not cover it.
    let err = w.issuer.mint(&grant, lookalike).unwrap_err();
    assert!(matches!(oauth_code(&err), OAuthErrorCode::UnauthorizedClient | OAuthErrorCode::InvalidTarget));
    let reg = w.issuer.registry();
    assert!(reg.lookup(&jwe_mint::token::ResourceIndicator::parse(lookalike).unwrap()).is_none());
}

#[test]
fn per_resource_lifetime_shows_in_exp() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "pay photos.read", &[PAY, PHOTOS]).unwrap();
    let t = now();
    let pay = w.issuer.mint_at(&grant, PAY, t).unwrap();
    let photos = w.issuer.mint_at(&grant, PHOTOS, t).unwrap();
    assert_eq!(pay.expires_in, 300);
    assert_eq!(photos.expires_in, 3600);
    let at = rs(&w, PAY, &w.pay_key).open(&pay.access_token).unwrap();
    assert_eq!(at.standard_claims().exp, t + 300);
    assert_eq!(at.standard_claims().iat, t);
}

#[test]
fn token_lifetime_override_wins_over_registry_and_default() {
    let w = world();
    let build = |b: jwe_mint::issuer::IssuerBuilder| {
        b.registry(w.issuer.registry().clone())
            .allow_client("photo-app", &[PHOTOS, FRIENDS, PAY])
            .unwrap()
            .build()
    };
    // PAY's registry entry says 300 s, the default says 3600 s: the override says 42 s for both.
    let issuer = build(Issuer::builder(AS, &w.as_key).default_ttl(3600).token_lifetime_override(42)).unwrap();
    let grant =
        Grant::new("alice", "photo-app", "pay photos.read friends.read", &[PAY, PHOTOS, FRIENDS]).unwrap();
    let t = now();
    for (resource, key) in [(PAY, &w.pay_key), (PHOTOS, &w.photos_key)] {
        let tok = issuer.mint_at(&grant, resource, t).unwrap();
        assert_eq!(tok.expires_in, 42, "{resource}");
        let at = ResourceServer::builder(resource, AS)
            .decryption_keys(JwkSet::new(vec![key.clone()]))
            .issuer_keys(issuer.verification_keys().clone())
            .build()
            .unwrap()
            .open_with(&OpenRequest::new(&tok.access_token).at(t))
            .unwrap();
        assert_eq!((at.standard_claims().iat, at.standard_claims().exp), (t, t + 42), "{resource}");
    }
    assert!(issuer.mint_all(&grant).unwrap().tokens.iter().all(|tok| tok.expires_in == 42));
    let multi = issuer
        .mint_multi_recipient(&Grant::new("alice", "photo-app", "pay photos.read", &[PAY, PHOTOS]).unwrap());
    assert_eq!(multi.unwrap().expires_in, 42);
    // The registry is left as it is: the same entries without the override keep their lifetimes.
    assert_eq!(issuer.registry().get(PAY).unwrap().token_lifetime(), Some(300));
    let plain = build(Issuer::builder(AS, &w.as_key).default_ttl(3600)).unwrap();
    assert_eq!(plain.mint_at(&grant, PAY, t).unwrap().expires_in, 300);
    assert_eq!(plain.mint_at(&grant, PHOTOS, t).unwrap().expires_in, 3600);
    // A zero override is a caller mistake.
    let zero = build(Issuer::builder(AS, &w.as_key).token_lifetime_override(0)).unwrap_err();
    assert_eq!(zero, Error::Misuse(Misuse::ZeroLifetime));
}

// ---- rejections ----------------------------------------------------------------------------

#[test]
fn reject_expired_beyond_leeway_but_accept_within() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "pay", &[PAY]).unwrap();
    let t = now() - 300 - 61;
    let tok = w.issuer.mint_at(&grant, PAY, t).unwrap();
    assert_eq!(
        rejection(rs(&w, PAY, &w.pay_key).open(&tok.access_token).unwrap_err()),
        TokenRejection::Expired
    );
    let within = w.issuer.mint_at(&grant, PAY, now() - 300 - 30).unwrap();
    assert!(rs(&w, PAY, &w.pay_key).open(&within.access_token).is_ok());
}

#[test]
fn reject_not_yet_valid() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let tok = w.issuer.mint_at(&grant, PHOTOS, now() + 3600).unwrap();
    assert_eq!(
        rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok.access_token).unwrap_err()),
        TokenRejection::NotYetValid
    );
    let mut c = good_claims(PHOTOS);
    c["nbf"] = json!(now() + 120);
    let tok = craft(&at_signer(&w.as_key), &c, &w.photos_key.to_public().unwrap(), &[]);
    assert_eq!(rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()), TokenRejection::NotYetValid);
}

#[test]
fn reject_wrong_issuer() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let tok = w.issuer.mint(&grant, PHOTOS).unwrap();
    let other = ResourceServer::builder(PHOTOS, "https://evil.example.com")
        .decryption_keys(JwkSet::new(vec![w.photos_key.clone()]))
        .issuer_keys(w.issuer.verification_keys().clone())
        .build()
        .unwrap();
    assert_eq!(rejection(other.open(&tok.access_token).unwrap_err()), TokenRejection::WrongIssuer);
}

#[test]
fn reject_wrong_audience() {
    // A token whose aud is another RS, encrypted to this RS's key (e.g. keys shared by mistake).
    let w = world();
    let tok = craft(&at_signer(&w.as_key), &good_claims(FRIENDS), &w.photos_key.to_public().unwrap(), &[]);
    assert_eq!(
        rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()),
        TokenRejection::WrongAudience
    );
}

#[test]
fn reject_missing_aud_or_exp() {
    let w = world();
    let signer = at_signer(&w.as_key);
    let rs_pub = w.photos_key.to_public().unwrap();
    let photos = rs(&w, PHOTOS, &w.photos_key);
    for (claim, expected) in
        [("aud", TokenRejection::MissingClaim("aud")), ("exp", TokenRejection::MissingClaim("exp"))]
    {
        let mut c = good_claims(PHOTOS);
        c.as_object_mut().unwrap().remove(claim);
        let tok = craft(&signer, &c, &rs_pub, &[]);
        assert_eq!(rejection(photos.open(&tok).unwrap_err()), expected, "without {claim}");
    }
}

#[test]
fn reject_wrong_typ() {
    let w = world();
    let mut h = Header::new();
    h.insert("typ".into(), "JWT".into());
    let signer = Signer::new(&w.as_key, SigningAlg::Es256, h).unwrap();
    let tok = craft(&signer, &good_claims(PHOTOS), &w.photos_key.to_public().unwrap(), &[]);
    assert_eq!(rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()), TokenRejection::WrongType);
    let untyped = Signer::new(&w.as_key, SigningAlg::Es256, Header::new()).unwrap();
    let tok = craft(&untyped, &good_claims(PHOTOS), &w.photos_key.to_public().unwrap(), &[]);
    assert_eq!(rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()), TokenRejection::WrongType);
}

#[test]
fn reject_signature_by_unknown_key() {
    let w = world();
    let rogue = Jwk::generate(Curve::P256).unwrap();
    // Same kid as the real AS key: the signature itself must fail.
    let rogue_same_kid = rogue.clone().with_kid(w.as_key.kid().unwrap());
    let tok =
        craft(&at_signer(&rogue_same_kid), &good_claims(PHOTOS), &w.photos_key.to_public().unwrap(), &[]);
    assert_eq!(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err(), Error::InvalidSignature);
    // Its own kid: no such AS key.
    let tok = craft(&at_signer(&rogue), &good_claims(PHOTOS), &w.photos_key.to_public().unwrap(), &[]);
    assert!(matches!(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err(), Error::NoMatchingKey(_)));
}

#[test]
fn reject_unknown_kid() {
    let w = world();
    let stranger = Jwk::generate(Curve::P256).unwrap();
    let tok = craft(&at_signer(&w.as_key), &good_claims(PHOTOS), &stranger.to_public().unwrap(), &[]);
    assert!(matches!(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err(), Error::NoMatchingKey(_)));
}

#[test]
fn reject_client_not_allowed_unknown_resource_and_no_scope() {
    let w = world();
    let grant = Grant::new("alice", "friends-only", "photos.read", &[PHOTOS]).unwrap();
    assert_eq!(oauth_code(&w.issuer.mint(&grant, PHOTOS).unwrap_err()), OAuthErrorCode::UnauthorizedClient);
    let grant = Grant::new("alice", "unknown-client", "photos.read", &[PHOTOS]).unwrap();
    assert_eq!(oauth_code(&w.issuer.mint(&grant, PHOTOS).unwrap_err()), OAuthErrorCode::UnauthorizedClient);

    let unknown = "https://unknown.example.com";
    let issuer = Issuer::builder(AS, &w.as_key)
        .registry(w.issuer.registry().clone())
        .allow_client("c", &[unknown])
        .unwrap()
        .build()
        .unwrap();
    let grant = Grant::new("alice", "c", "photos.read", &[unknown]).unwrap();
    assert_eq!(oauth_code(&issuer.mint(&grant, unknown).unwrap_err()), OAuthErrorCode::InvalidTarget);

    let grant = Grant::new("alice", "photo-app", "friends.read", &[PHOTOS]).unwrap();
    let err = w.issuer.mint(&grant, PHOTOS).unwrap_err();
    assert_eq!(oauth_code(&err), OAuthErrorCode::InvalidScope);
    assert!(err.to_string().starts_with("invalid_scope"));

    assert_eq!(
        oauth_code(&Grant::new("alice", "photo-app", "x", &["not-a-uri"]).unwrap_err()),
        OAuthErrorCode::InvalidTarget
    );
    assert_eq!(
        oauth_code(&Grant::new("alice", "photo-app", "x", &["https://a.example/#frag"]).unwrap_err()),
        OAuthErrorCode::InvalidTarget
    );
}

#[test]
fn reject_unencrypted_token_by_default() {
    let w = world();
    let jws = at_signer(&w.as_key).sign(good_claims(PHOTOS).to_string().as_bytes()).unwrap();
    assert_eq!(
        rejection(rs(&w, PHOTOS, &w.photos_key).open(&jws).unwrap_err()),
        TokenRejection::NotEncrypted
    );
}

// ---- attacks -------------------------------------------------------------------------------

#[test]
fn attack_rs_reencrypts_stolen_inner_jws_to_other_rs() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS, FRIENDS]).unwrap();
    let tok = w.issuer.mint(&grant, PHOTOS).unwrap();
    // Photos RS decrypts its token and re-encrypts the signed inner JWT to friends' public key.
    let inner =
        jwe::decrypt(&tok.access_token, &JwkSet::new(vec![w.photos_key.clone()]), &DecryptPolicy::default())
            .unwrap();
    let forged = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .protected_param("cty", "JWT")
        .recipient(&w.friends_key.to_public().unwrap(), KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_compact(&inner.plaintext)
        .unwrap();
    assert_eq!(
        rejection(rs(&w, FRIENDS, &w.friends_key).open(&forged).unwrap_err()),
        TokenRejection::WrongAudience
    );
}

#[test]
fn multi_recipient_every_recipient_reads_every_scope_and_the_aud_list() {
    // The documented trade-off of `mint_multi_recipient`: one set of claims for all recipients.
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read photos.write friends.read", &[PHOTOS, FRIENDS])
        .unwrap();
    let multi = w.issuer.mint_multi_recipient(&grant).unwrap();
    assert_eq!(multi.scope, "photos.read photos.write friends.read", "the union of the scopes");
    let lenient = Validation::default().dangerous_accept_multi_audience();
    let friends = rs_with(&w, FRIENDS, &w.friends_key, |b| b.validation(lenient.clone()));
    let seen_by_friends = friends.open(&multi.access_token).unwrap();
    // Friends reads what the client may do at Photos, and that it uses Photos at all.
    assert!(seen_by_friends.has_scope("photos.write"), "friends sees photos' scopes");
    assert!(seen_by_friends.has_scope("friends.read"));
    let claims: Value = seen_by_friends.claims().unwrap();
    assert_eq!(claims["aud"], json!([PHOTOS, FRIENDS]), "friends sees the whole aud list");
    // And the other way round.
    let seen_by_photos =
        rs_with(&w, PHOTOS, &w.photos_key, |b| b.validation(lenient)).open(&multi.access_token).unwrap();
    assert!(seen_by_photos.has_scope("friends.read"), "photos sees friends' scopes");
    // With one token per audience neither learns about the other.
    let single = w.issuer.mint(&grant, FRIENDS).unwrap();
    let alone = rs(&w, FRIENDS, &w.friends_key).open(&single.access_token).unwrap();
    assert_eq!(alone.scopes().collect::<Vec<_>>(), ["friends.read"]);
    assert_eq!(alone.claims::<Value>().unwrap()["aud"], json!(FRIENDS));
}

/// An issuer for two resources whose registry entries use `enc_a` and `enc_b`.
fn two_resource_issuer(enc_a: ContentEncryptionAlg, enc_b: ContentEncryptionAlg) -> (Issuer, Jwk, Jwk, Jwk) {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let (a, b) = (Jwk::generate(Curve::P256).unwrap(), Jwk::generate(Curve::X25519).unwrap());
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(PHOTOS, ["photos.read"], public(&a)).unwrap().with_enc(enc_a)).unwrap();
    reg.insert(ResourceEntry::new(FRIENDS, ["friends.read"], public(&b)).unwrap().with_enc(enc_b)).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(reg)
        .allow_client("photo-app", &[PHOTOS, FRIENDS])
        .unwrap()
        .build()
        .unwrap();
    (issuer, as_key, a, b)
}

#[test]
fn multi_recipient_honours_the_resources_encryption_enc() {
    let (issuer, _, a, b) =
        two_resource_issuer(ContentEncryptionAlg::A128CbcHs256, ContentEncryptionAlg::A128CbcHs256);
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS, FRIENDS]).unwrap();
    let multi = issuer.mint_multi_recipient(&grant).unwrap();
    let headers = jwe::inspect(&multi.access_token, &DecryptPolicy::default()).unwrap();
    assert_eq!(headers.protected["enc"], "A128CBC-HS256", "the registry's encryption_enc, not A256GCM");
    for (resource, key) in [(PHOTOS, &a), (FRIENDS, &b)] {
        let opened =
            jwe::decrypt(&multi.access_token, &JwkSet::new(vec![key.clone()]), &DecryptPolicy::default())
                .unwrap_or_else(|e| panic!("{resource}: {e}"));
        assert_eq!(opened.enc, ContentEncryptionAlg::A128CbcHs256, "{resource}");
    }
}

#[test]
fn multi_recipient_refuses_resources_that_disagree_on_enc() {
    let (issuer, _, _, _) = two_resource_issuer(ContentEncryptionAlg::A128Gcm, ContentEncryptionAlg::A256Gcm);
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS, FRIENDS]).unwrap();
    let err = issuer.mint_multi_recipient(&grant).expect_err("two encs cannot share one token");
    let msg = err.to_string();
    assert!(matches!(err, Error::Misuse(Misuse::MixedContentEncryption { .. })), "got {err:?}");
    for part in [PHOTOS, FRIENDS, "A128GCM", "A256GCM"] {
        assert!(msg.contains(part), "the error names {part}: {msg}");
    }
    // One token per audience still works, each with its own enc.
    assert!(issuer.mint_all(&grant).is_ok());
}

#[test]
fn attack_multi_recipient_insider_forges_content_for_other_recipient() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read friends.read", &[PHOTOS, FRIENDS]).unwrap();
    let multi = w.issuer.mint_multi_recipient(&grant).unwrap();
    assert_eq!(multi.resources, [PHOTOS, FRIENDS]);
    let lenient = Validation::default().dangerous_accept_multi_audience();
    let friends = rs_with(&w, FRIENDS, &w.friends_key, |b| b.validation(lenient.clone()));
    let photos = rs_with(&w, PHOTOS, &w.photos_key, |b| b.validation(lenient));
    assert!(photos.open(&multi.access_token).is_ok());
    assert!(friends.open(&multi.access_token).is_ok());
    // Default RSs refuse multi-recipient (JSON) tokens before any decryption work.
    let refused = rs(&w, FRIENDS, &w.friends_key).open(&multi.access_token).unwrap_err();
    assert_eq!(refused, Error::InvalidToken(TokenRejection::NotCompact));

    // Photos (recipient 0) recovers the shared CEK from its own recipient entry.
    let mut doc: Value = serde_json::from_str(&multi.access_token).unwrap();
    let r0 = doc["recipients"][0].clone();
    assert_eq!(r0["header"]["kid"], w.photos_key.kid().unwrap());
    let epk = Jwk::from_value(&r0["header"]["epk"]).unwrap();
    let z = hazmat::ecdh_shared_secret(&w.photos_key, &epk).unwrap();
    let kek = hazmat::concat_kdf(&z, "ECDH-ES+A256KW", b"", b"", 32).unwrap();
    let wrapped = b64(r0["encrypted_key"].as_str().unwrap());
    let cek = hazmat::aes_key_unwrap(&kek, &wrapped).unwrap();
    // It decrypts, then writes altered claims (more scope) under the same CEK, keeping the signature.
    let plain = jwe::decrypt(
        &multi.access_token,
        &JwkSet::new(vec![w.photos_key.clone()]),
        &DecryptPolicy::default(),
    )
    .unwrap();
    let jws = String::from_utf8(plain.plaintext.to_vec()).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    claims["scope"] = json!("friends.read friends.admin");
    let forged_jws = format!("{}.{}.{}", parts[0], enc64(claims.to_string().as_bytes()), parts[2]);
    let protected = doc["protected"].as_str().unwrap().to_owned();
    let iv = [9u8; 12];
    let (ct, tag) = hazmat::content_encrypt(
        ContentEncryptionAlg::A256Gcm,
        &cek,
        &iv,
        protected.as_bytes(),
        forged_jws.as_bytes(),
    )
    .unwrap();
    doc["iv"] = enc64(&iv).into();
    doc["ciphertext"] = enc64(&ct).into();
    doc["tag"] = enc64(&tag).into();
    let forged = doc.to_string();
    // The JWE layer cannot notice (it decrypts fine); the inner signature does.
    assert!(
        jwe::decrypt(&forged, &JwkSet::new(vec![w.friends_key.clone()]), &DecryptPolicy::default()).is_ok()
    );
    assert_eq!(friends.open(&forged).unwrap_err(), Error::InvalidSignature);
}

#[test]
fn attack_outer_header_aud_differs_from_inner() {
    let w = world();
    let tok = craft(
        &at_signer(&w.as_key),
        &good_claims(PHOTOS),
        &w.photos_key.to_public().unwrap(),
        &[("aud", json!(FRIENDS))],
    );
    assert_eq!(
        rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()),
        TokenRejection::HeaderClaimMismatch("aud")
    );
    let tok = craft(
        &at_signer(&w.as_key),
        &good_claims(PHOTOS),
        &w.photos_key.to_public().unwrap(),
        &[("iss", json!("https://evil.example"))],
    );
    assert_eq!(
        rejection(rs(&w, PHOTOS, &w.photos_key).open(&tok).unwrap_err()),
        TokenRejection::HeaderClaimMismatch("iss")
    );
}

// ---- rotation ------------------------------------------------------------------------------

#[test]
fn rotation_old_rs_key_tokens_still_open_after_registry_moves_on() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let old_token = w.issuer.mint(&grant, PHOTOS).unwrap();
    let new_key = Jwk::generate(Curve::P256).unwrap();
    let mut reg = w.issuer.registry().clone();
    reg.get_mut(PHOTOS).unwrap().rotate_to(new_key.to_public().unwrap()).unwrap();
    let issuer2 = Issuer::builder(AS, &w.as_key)
        .registry(reg)
        .allow_client("photo-app", &[PHOTOS])
        .unwrap()
        .build()
        .unwrap();
    let new_token = issuer2.mint(&grant, PHOTOS).unwrap();
    let headers = jwe::inspect(&new_token.access_token, &DecryptPolicy::default()).unwrap();
    assert_eq!(headers.protected["kid"], new_key.kid().unwrap());
    let photos = ResourceServer::builder(PHOTOS, AS)
        .decryption_keys(JwkSet::new(vec![new_key, w.photos_key.clone()]))
        .issuer_keys(issuer2.verification_keys().clone())
        .build()
        .unwrap();
    assert!(photos.open(&old_token.access_token).is_ok());
    assert!(photos.open(&new_token.access_token).is_ok());
}

#[test]
fn rotation_retired_as_key_rejected_once_removed() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let old_signed = w.issuer.mint(&grant, PHOTOS).unwrap();
    let new_as = Jwk::generate(Curve::P256).unwrap();
    let issuer2 = Issuer::builder(AS, &new_as)
        .registry(w.issuer.registry().clone())
        .publish_verification_key(&w.as_key)
        .unwrap()
        .allow_client("photo-app", &[PHOTOS])
        .unwrap()
        .build()
        .unwrap();
    let new_signed = issuer2.mint(&grant, PHOTOS).unwrap();
    let during = ResourceServer::builder(PHOTOS, AS)
        .decryption_keys(JwkSet::new(vec![w.photos_key.clone()]))
        .issuer_keys(issuer2.verification_keys().clone())
        .build()
        .unwrap();
    assert!(during.open(&old_signed.access_token).is_ok());
    assert!(during.open(&new_signed.access_token).is_ok());
    let after = ResourceServer::builder(PHOTOS, AS)
        .decryption_keys(JwkSet::new(vec![w.photos_key.clone()]))
        .issuer_keys(public(&new_as))
        .build()
        .unwrap();
    assert!(after.open(&new_signed.access_token).is_ok());
    assert!(matches!(after.open(&old_signed.access_token).unwrap_err(), Error::NoMatchingKey(_)));
}

// ---- concurrency ---------------------------------------------------------------------------

#[test]
fn concurrency_8_threads_10000_tokens() {
    let w = world();
    let issuer = Arc::new(w.issuer);
    let photos = Arc::new(
        ResourceServer::builder(PHOTOS, AS)
            .decryption_keys(JwkSet::new(vec![w.photos_key.clone()]))
            .issuer_keys(issuer.verification_keys().clone())
            .build()
            .unwrap(),
    );
    let grant = Arc::new(Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (issuer, photos, grant) = (issuer.clone(), photos.clone(), grant.clone());
            std::thread::spawn(move || {
                for _ in 0..1250 {
                    let t = issuer.mint(&grant, PHOTOS).unwrap();
                    assert_eq!(photos.open(&t.access_token).unwrap().subject(), "alice");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn enc64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[test]
fn issuer_and_resource_server_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Issuer>();
    assert_send_sync::<ResourceServer>();
}

// ---- opt-in RS cache -----------------------------------------------------------------------

/// `(entries, hits, misses)` of an RS's token cache.
fn cache(rs: &ResourceServer) -> (usize, u64, u64) {
    let s = rs.cache_stats().expect("the RS has a cache");
    (s.entries, s.hits, s.misses)
}

#[test]
fn cache_serves_repeat_tokens_but_never_past_exp_and_rechecks_audience() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "pay", &[PAY]).unwrap();
    let t0 = now();
    let tok = w.issuer.mint_at(&grant, PAY, t0).unwrap().access_token;
    let pay = rs_with(&w, PAY, &w.pay_key, |b| b.cache(8));
    assert!(rs(&w, PAY, &w.pay_key).cache_stats().is_none(), "no cache unless opted in");
    assert_eq!(cache(&pay), (0, 0, 0));
    let first = pay.open_with(&OpenRequest::new(&tok).at(t0)).unwrap();
    assert_eq!(cache(&pay), (1, 0, 1), "first open: full path, then stored");
    let second = pay.open_with(&OpenRequest::new(&tok).at(t0 + 10)).unwrap();
    assert_eq!(cache(&pay), (1, 1, 1), "repeat open: served from the cache");
    assert_eq!(first.standard_claims().jti, second.standard_claims().jti);
    // Past exp (300 s) + leeway (60 s): the cache must not serve it, and a full open rejects it.
    assert_eq!(
        rejection(pay.open_with(&OpenRequest::new(&tok).at(t0 + 361)).unwrap_err()),
        TokenRejection::Expired
    );
    assert_eq!(cache(&pay), (1, 1, 2), "past exp: not a hit");
    // Within the leeway the cache refuses (past exp) but the full path still accepts.
    assert!(pay.open_with(&OpenRequest::new(&tok).at(t0 + 330)).is_ok());
    assert_eq!(cache(&pay), (1, 1, 3), "past exp within the leeway: full path, not a hit");
    // A demanded audience is checked on every hit.
    assert!(pay.open_with(&OpenRequest::new(&tok).audience(PAY).at(t0)).is_ok());
    assert_eq!(cache(&pay), (1, 2, 3));
    assert_eq!(
        rejection(pay.open_with(&OpenRequest::new(&tok).audience(PHOTOS).at(t0)).unwrap_err()),
        TokenRejection::WrongAudience
    );
    assert_eq!(cache(&pay), (1, 3, 3), "the wrong audience was refused on a cache hit");
    // A tampered token is not a cache hit.
    let mut tampered = tok.clone();
    tampered.push('A');
    assert!(matches!(
        pay.open_with(&OpenRequest::new(&tampered).at(t0)),
        Err(Error::Malformed(_) | Error::DecryptionFailed)
    ));
    assert_eq!(cache(&pay), (1, 3, 4), "tampered: a miss, and not stored");
}

#[test]
fn cache_never_stores_a_rejection() {
    let w = world();
    let pay = rs_with(&w, PAY, &w.pay_key, |b| b.cache(8));
    // Signed by a stranger: refused (no AS key has its kid), twice on the full path, never stored.
    let stranger = Jwk::generate(Curve::P256).unwrap();
    let bad = craft(&at_signer(&stranger), &good_claims(PAY), &w.pay_key.to_public().unwrap(), &[]);
    assert!(matches!(pay.open(&bad), Err(Error::NoMatchingKey(_))));
    assert!(matches!(pay.open(&bad), Err(Error::NoMatchingKey(_))));
    assert_eq!(cache(&pay), (0, 0, 2));
    // A rejection that time cures: a token opened before its `iat` is refused, and the same
    // token opens once it is valid. Had the rejection been remembered, the second open would
    // repeat it.
    let grant = Grant::new("alice", "photo-app", "pay", &[PAY]).unwrap();
    let t0 = now();
    let tok = w.issuer.mint_at(&grant, PAY, t0).unwrap().access_token;
    assert_eq!(
        rejection(pay.open_with(&OpenRequest::new(&tok).at(t0 - 1000)).unwrap_err()),
        TokenRejection::NotYetValid
    );
    assert_eq!(cache(&pay), (0, 0, 3), "refused: not stored");
    assert!(pay.open_with(&OpenRequest::new(&tok).at(t0)).is_ok());
    assert_eq!(cache(&pay), (1, 0, 4), "accepted on the full path, then stored");
    // A rejection for the demanded audience, then the same token without that demand.
    let tok2 = w.issuer.mint_at(&grant, PAY, t0 + 1).unwrap().access_token;
    assert_eq!(
        rejection(pay.open_with(&OpenRequest::new(&tok2).audience(PHOTOS).at(t0)).unwrap_err()),
        TokenRejection::WrongAudience
    );
    assert_eq!(cache(&pay), (1, 0, 5));
    assert!(pay.open_with(&OpenRequest::new(&tok2).audience(PAY).at(t0 + 1)).is_ok());
    assert_eq!(cache(&pay), (2, 0, 6));
}

#[test]
fn batch_minting_keeps_order_and_reports_each_failure() {
    let w = world();
    let alice = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let bob = Grant::new("bob", "photo-app", "friends.read", &[FRIENDS]).unwrap();
    let requests: Vec<(&Grant, &str)> = (0..32usize)
        .map(|i| {
            if i.is_multiple_of(2) {
                (&alice, PHOTOS)
            } else {
                (&bob, if i == 7 { PHOTOS } else { FRIENDS })
            }
        })
        .collect();
    let results = w.issuer.mint_batch(&requests);
    assert_eq!(results.len(), 32);
    let photos = rs(&w, PHOTOS, &w.photos_key);
    let friends = rs(&w, FRIENDS, &w.friends_key);
    for (i, r) in results.iter().enumerate() {
        match i {
            7 => assert_eq!(oauth_code(r.as_ref().unwrap_err()), OAuthErrorCode::InvalidTarget),
            i if i.is_multiple_of(2) => {
                assert_eq!(photos.open(&r.as_ref().unwrap().access_token).unwrap().subject(), "alice")
            }
            _ => assert_eq!(friends.open(&r.as_ref().unwrap().access_token).unwrap().subject(), "bob"),
        }
    }
}

// ---- registry ------------------------------------------------------------------------------

#[test]
fn registry_json_round_trip_keeps_entries_rotation_and_extensions() {
    let w = world();
    let mut reg = w.issuer.registry().clone();
    let next = Jwk::generate(Curve::P256).unwrap().with_use("enc");
    reg.get_mut(PHOTOS).unwrap().rotate_to(next.to_public().unwrap()).unwrap();
    let text = reg.to_json().unwrap();
    assert!(!text.contains("\"d\""), "registry documents hold public keys only");
    let again = Registry::from_json(&text).unwrap();
    let photos = again.get(PHOTOS).unwrap();
    assert_eq!(photos.current_key().unwrap().kid(), next.kid());
    assert_eq!(photos.keys().count(), 2);
    assert_eq!(photos.scopes_supported().iter().collect::<Vec<_>>(), ["photos.read", "photos.write"]);
    assert!(again.get(SAAS).unwrap().covers_subresources());
    assert_eq!(again.get(PAY).unwrap().token_lifetime(), Some(300));
    // Removing the old key after its tokens expired.
    let mut again = again;
    again.get_mut(PHOTOS).unwrap().remove_key(w.photos_key.kid().unwrap()).unwrap();
    assert_eq!(again.get(PHOTOS).unwrap().keys().count(), 1);
    assert!(again.get_mut(PHOTOS).unwrap().remove_key(next.kid().unwrap()).is_err(), "the only key stays");
}

#[test]
fn registry_rejects_private_unusable_or_duplicate_keys() {
    let private = Jwk::generate(Curve::P256).unwrap();
    let public = private.to_public().unwrap();
    let doc = |keys: Vec<Value>| {
        json!({"resources": [{"resource": PHOTOS, "scopes_supported": ["a"], "jwks": {"keys": keys}}]})
            .to_string()
    };
    let bad_cases = [
        ("private key", vec![private.to_private_value()]),
        ("symmetric key", vec![Jwk::generate_symmetric(32).unwrap().to_private_value()]),
        ("signing use", vec![public.clone().with_use("sig").to_value().unwrap()]),
        ("Ed25519", vec![Jwk::generate(Curve::Ed25519).unwrap().to_public().unwrap().to_value().unwrap()]),
        ("signing alg", vec![public.clone().with_alg("ES256").to_value().unwrap()]),
        (
            "RSA1_5",
            vec![Jwk::generate_rsa(2048)
                .unwrap()
                .to_public()
                .unwrap()
                .with_alg("RSA1_5")
                .to_value()
                .unwrap()],
        ),
        ("duplicate", vec![public.to_value().unwrap(), public.to_value().unwrap()]),
        ("no key", vec![]),
    ];
    for (name, keys) in bad_cases {
        assert!(matches!(Registry::from_json(&doc(keys)), Err(Error::InvalidKey(_))), "{name}");
    }
    assert!(Registry::from_json(&doc(vec![public.to_value().unwrap()])).is_ok());
    // RFC 9728 §2: a set mixing signing and encryption keys, each with `use`, is fine; the
    // signing key is skipped and the encryption key is used.
    let sig = Jwk::generate(Curve::P256).unwrap().to_public().unwrap().with_use("sig");
    let enc = public.clone().with_use("enc");
    let mixed = Registry::from_json(&doc(vec![sig.to_value().unwrap(), enc.to_value().unwrap()])).unwrap();
    assert_eq!(mixed.get(PHOTOS).unwrap().current_key().unwrap().kid(), enc.kid());
    assert_eq!(mixed.get(PHOTOS).unwrap().keys().count(), 1);
    // …but then every key must say what it is for.
    let unlabelled = doc(vec![sig.to_value().unwrap(), public.to_value().unwrap()]);
    assert!(matches!(Registry::from_json(&unlabelled), Err(Error::InvalidKey(_))));
    // Structural problems.
    let twice = json!({"resources": [
        {"resource": PHOTOS, "jwks": {"keys": [public.to_value().unwrap()]}},
        {"resource": PHOTOS, "jwks": {"keys": [public.to_value().unwrap()]}}]});
    assert!(Registry::from_json(&twice.to_string()).is_err());
    let fragment = json!({"resources": [{"resource": "https://x.example/#f", "jwks": {"keys": [public.to_value().unwrap()]}}]});
    assert!(Registry::from_json(&fragment.to_string()).is_err());
    assert!(Registry::from_json("{\"resources\":{}}").is_err());
    assert!(Registry::from_json("{\"resources\":[],\"resources\":[]}").is_err());
}

/// The X25519 points of low order (RFC 7748 §6.1; libsodium's blocklist): 0, 1, the two points of
/// order 8, and the non-canonical encodings p-1, p, p+1.
const X25519_LOW_ORDER: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn registry_refuses_low_order_x25519_keys_naming_the_resource() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let good = Jwk::generate(Curve::P256).unwrap().to_public().unwrap().to_value().unwrap();
    for hex_point in X25519_LOW_ORDER {
        let mut point: Vec<u8> =
            (0..32).map(|i| u8::from_str_radix(&hex_point[2 * i..2 * i + 2], 16).unwrap()).collect();
        // X25519 ignores the top bit (RFC 7748 §5): both spellings are the same point.
        for top_bit in [false, true] {
            point[31] = if top_bit { point[31] | 0x80 } else { point[31] & 0x7f };
            let key = json!({"kty": "OKP", "crv": "X25519", "kid": "bad", "x": b64(&point)});
            // Next to a good key too: the bad one must not ride along as a rotation key.
            for keys in [vec![key.clone()], vec![good.clone(), key.clone()]] {
                let doc = json!({"resources": [{"resource": FRIENDS, "jwks": {"keys": keys}}]}).to_string();
                let err =
                    Registry::from_json(&doc).expect_err("a low-order X25519 key must be refused at load");
                let msg = err.to_string();
                assert!(matches!(err, Error::InvalidKey(_)), "{hex_point}: got {err:?}");
                assert!(msg.contains(FRIENDS) && msg.contains("low order"), "{hex_point}: {msg}");
            }
            // The programmatic path refuses it the same way.
            let set = JwkSet::from_json(&json!({"keys": [key]}).to_string()).unwrap();
            let err = ResourceEntry::new(FRIENDS, ["friends.read"], set).expect_err("low order via new()");
            assert!(err.to_string().contains(FRIENDS) && err.to_string().contains("low order"), "{err}");
        }
    }
    // A real X25519 key still registers.
    let fine = Jwk::generate(Curve::X25519).unwrap().to_public().unwrap();
    assert!(ResourceEntry::new(FRIENDS, ["friends.read"], JwkSet::new(vec![fine])).is_ok());
}

#[test]
fn registry_key_set_errors_name_the_resource() {
    let mut off_curve = Jwk::generate(Curve::P256).unwrap().to_public().unwrap().to_value().unwrap();
    off_curve["y"] = off_curve["x"].clone();
    let doc = json!({"resources": [{"resource": PHOTOS, "jwks": {"keys": [off_curve]}}]}).to_string();
    let err = Registry::from_json(&doc).expect_err("off-curve key");
    assert!(err.to_string().contains(PHOTOS), "{err}");
}

#[test]
fn cache_is_shared_by_clones_and_never_across_settings() {
    let w = world();
    let strict = rs_with(&w, PHOTOS, &w.photos_key, |b| b.cache(16));
    // The control: a clone with the same settings shares the cache, and the counters show it.
    let twin = strict.clone();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let tok = w.issuer.mint(&grant, PHOTOS).unwrap().access_token;
    assert!(strict.open(&tok).is_ok());
    assert!(twin.open(&tok).is_ok());
    assert_eq!(cache(&twin), (1, 1, 1), "the twin was served what the strict RS cached");
    assert_eq!(cache(&strict), cache(&twin));
    // An RS with other settings (they are fixed at build) starts with its own, empty cache.
    let lenient = rs_with(&w, PHOTOS, &w.photos_key, |b| {
        b.cache(16).validation(Validation::default().dangerous_accept_unencrypted())
    });
    assert_eq!(cache(&lenient), (0, 0, 0));
    let plain = at_signer(&w.as_key).sign(good_claims(PHOTOS).to_string().as_bytes()).unwrap();
    assert!(lenient.open(&plain).is_ok(), "opt-in accepts a plain JWS");
    assert_eq!(lenient.open(&plain).unwrap().key_management(), None);
    assert_eq!(cache(&lenient), (1, 1, 1), "the lenient RS cached the plain JWS");
    // The strict RS must not be served the token the lenient RS cached: its refusal comes
    // from its own full path (a miss), not from a hit.
    assert_eq!(rejection(strict.open(&plain).unwrap_err()), TokenRejection::NotEncrypted);
    assert_eq!(cache(&strict), (1, 1, 2), "strict: a miss; nothing of the lenient RS's");
    // Oversized input is refused before hashing or parsing, cache or not.
    let huge = "A".repeat(jwe::DEFAULT_MAX_TOKEN_SIZE + 1);
    assert_eq!(
        strict.open(&huge).map(|_| ()),
        Err(Error::Limit(LimitExceeded::TokenTooLarge { max: jwe::DEFAULT_MAX_TOKEN_SIZE }))
    );
    assert_eq!(cache(&strict), (1, 1, 2), "oversized: not even looked up");
}

#[test]
fn replicated_claims_and_cty_count_only_when_protected() {
    let w = world();
    let jws = at_signer(&w.as_key).sign(good_claims(PHOTOS).to_string().as_bytes()).unwrap();
    let rs_pub = w.photos_key.to_public().unwrap();
    // JSON serializations open only at an RS that opted in to multi-audience tokens.
    let photos = rs_with(&w, PHOTOS, &w.photos_key, |b| {
        b.validation(Validation::default().dangerous_accept_multi_audience())
    });
    // `aud` only in the unprotected header of a flattened JWE: refused.
    let unprotected_aud = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .protected_param("cty", "JWT")
        .unprotected_param("aud", PHOTOS)
        .recipient(&rs_pub, KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_flattened(jws.as_bytes())
        .unwrap();
    assert_eq!(
        rejection(photos.open(&unprotected_aud).unwrap_err()),
        TokenRejection::HeaderClaimMismatch("aud")
    );
    // `cty` only in the unprotected header: not a nested token as far as the RS is concerned.
    let unprotected_cty = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .unprotected_param("cty", "JWT")
        .recipient(&rs_pub, KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_flattened(jws.as_bytes())
        .unwrap();
    assert_eq!(rejection(photos.open(&unprotected_cty).unwrap_err()), TokenRejection::WrongType);
    // The same token with everything protected opens (flattened JSON, under the opt-in).
    let ok = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .protected_param("cty", "JWT")
        .protected_param("aud", PHOTOS)
        .recipient(&rs_pub, KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_flattened(jws.as_bytes())
        .unwrap();
    assert!(photos.open(&ok).is_ok());
}

// ---- weaknesses found by review -------------------------------------------------------------

/// Encrypts an already-serialized inner JWS to `rs_public` as an access token (`cty: JWT`).
fn wrap_jws(jws: &str, rs_public: &Jwk) -> String {
    Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .protected_param("cty", "JWT")
        .recipient(rs_public, KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_compact(jws.as_bytes())
        .unwrap()
}

/// The Ed25519 identity point as an AS key, and a "signature" R = identity, S = 0: a cofactorless
/// verifier computes [0]B − [h]·identity = identity = R and accepts any claims (RFC 8032 §5.1.7
/// leaves small-order keys to the application). The key must be refused when the JWK Set is read;
/// if a set ever kept it, the forged token must still not open.
#[test]
fn small_order_ed25519_as_key_cannot_sign_for_anyone() {
    let w = world();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let jwks = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": enc64(&identity), "kid": "evil", "use": "sig"},
        w.as_key.to_public().unwrap().to_value().unwrap(),
    ]});
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "evil"});
    let mut claims = good_claims(PHOTOS);
    claims["sub"] = "admin".into();
    let forged = format!(
        "{}.{}.{}",
        enc64(header.to_string().as_bytes()),
        enc64(claims.to_string().as_bytes()),
        enc64(&[identity.as_slice(), &[0u8; 32]].concat())
    );
    let token = wrap_jws(&forged, &w.photos_key.to_public().unwrap());

    let single = JwkSet::from_value(&json!({"keys": [jwks["keys"][0].clone()]}));
    assert!(matches!(single, Err(Error::InvalidKey(_))), "{single:?}");
    match JwkSet::from_value(&jwks) {
        // The whole set refused: nothing to verify with.
        Err(e) => assert!(matches!(e, Error::InvalidKey(_)), "{e:?}"),
        // A set that skips the bad key (with a warning) keeps only the real AS key.
        Ok(set) => {
            assert!(set.find("evil").is_none());
            let rs = ResourceServer::builder(PHOTOS, AS)
                .decryption_keys(JwkSet::new(vec![w.photos_key.clone()]))
                .issuer_keys(set)
                .build()
                .unwrap();
            let err = rs.open(&token).unwrap_err();
            assert!(matches!(err, Error::NoMatchingKey(_) | Error::InvalidSignature), "{err:?}");
        }
    }
}

/// A client allowed only tenant 42 under a registry entry that covers sub-resources cannot reach
/// tenant 7 through `..` (plain or percent-encoded): refused at the issuer as `invalid_target`, and
/// an RS with sub-resources on never matches such an `aud` even when the AS signed it.
#[test]
fn dot_segments_never_reach_another_tenant() {
    let api = "https://api.example.com";
    let t42 = "https://api.example.com/tenants/42";
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let api_key = Jwk::generate(Curve::P256).unwrap();
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(api, ["data.read"], public(&api_key)).unwrap().covering_subresources())
        .unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(reg)
        .allow_client("tenant-42", &[t42])
        .unwrap()
        .build()
        .unwrap();
    assert!(issuer.mint(&Grant::new("alice", "tenant-42", "data.read", &[t42]).unwrap(), t42).is_ok());
    let grant_42 = Grant::new("alice", "tenant-42", "data.read", &[t42]).unwrap();
    let rs = ResourceServer::builder(api, AS)
        .decryption_keys(JwkSet::new(vec![api_key.clone()]))
        .issuer_keys(issuer.verification_keys().clone())
        .validation(Validation::default().allow_subresources())
        .build()
        .unwrap();
    for sneaky in [
        "https://api.example.com/tenants/42/../7",
        "https://api.example.com/tenants/42/%2e%2e/7",
        "https://api.example.com/tenants/42/%2E./7",
        "https://api.example.com/tenants/42/./../7",
    ] {
        // The client cannot even ask for it, nor mint it under a grant for tenant 42.
        let e = Grant::new("alice", "tenant-42", "data.read", &[sneaky]).unwrap_err();
        assert_eq!(oauth_code(&e), OAuthErrorCode::InvalidTarget, "{sneaky}");
        let e = issuer.mint(&grant_42, sneaky).unwrap_err();
        assert_eq!(oauth_code(&e), OAuthErrorCode::InvalidTarget, "{sneaky}");

        // A token the AS signed with that `aud` anyway: the RS does not take it as its own.
        let mut claims = good_claims(sneaky);
        claims["client_id"] = "tenant-42".into();
        let tok = craft(&at_signer(&as_key), &claims, &api_key.to_public().unwrap(), &[]);
        assert_eq!(rejection(rs.open(&tok).unwrap_err()), TokenRejection::WrongAudience, "{sneaky}");
        assert_eq!(
            rejection(rs.open_with(&OpenRequest::new(&tok).audience(sneaky)).unwrap_err()),
            TokenRejection::WrongAudience,
            "{sneaky}"
        );
    }
    // The same RS still opens the honest tenant token.
    let tok = issuer.mint(&grant_42, t42).unwrap().access_token;
    assert_eq!(rs.open_with(&OpenRequest::new(&tok).audience(t42)).unwrap().subject(), "alice");
}

/// The compact token, re-wrapped as flattened and as one-recipient general JSON with junk
/// unprotected headers, opens only in its compact form unless the RS opted in to multi-audience
/// (JSON) tokens.
#[test]
fn json_serialized_access_tokens_are_refused() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let compact = w.issuer.mint(&grant, PHOTOS).unwrap().access_token;
    let p: Vec<&str> = compact.split('.').collect();
    let flattened = json!({
        "protected": p[0], "unprotected": {"x-junk": "a"}, "header": {"x-more": 1},
        "encrypted_key": p[1], "iv": p[2], "ciphertext": p[3], "tag": p[4],
    })
    .to_string();
    let general = json!({
        "protected": p[0], "unprotected": {"x-junk": "b"},
        "recipients": [{"header": {"x-more": 2}, "encrypted_key": p[1]}],
        "iv": p[2], "ciphertext": p[3], "tag": p[4],
    })
    .to_string();
    let photos = rs(&w, PHOTOS, &w.photos_key);
    assert_eq!(photos.open(&compact).unwrap().subject(), "alice");
    for json_token in [&flattened, &general] {
        // The JOSE layer itself still reads it: the refusal is the RS's.
        assert!(jwe::decrypt(
            json_token,
            &JwkSet::new(vec![w.photos_key.clone()]),
            &DecryptPolicy::default()
        )
        .is_ok());
        let err = photos.open(json_token).unwrap_err();
        assert_eq!(err, Error::InvalidToken(TokenRejection::NotCompact), "{json_token}");
        assert!(err.to_string().contains("compact"), "{err}");
    }
    // An RS that opted in to multi-audience tokens reads the JSON serializations.
    let multi = rs_with(&w, PHOTOS, &w.photos_key, |b| {
        b.validation(Validation::default().dangerous_accept_multi_audience())
    });
    assert_eq!(multi.open(&flattened).unwrap().subject(), "alice");
    assert_eq!(multi.open(&general).unwrap().subject(), "alice");
}

/// JSON may start with whitespace (RFC 8259 §2) and the JOSE layer reads it as JSON: the RS's
/// compact-only rule must see through the whitespace too.
#[test]
fn json_serialized_access_tokens_with_leading_whitespace_are_refused() {
    let w = world();
    let grant = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let compact = w.issuer.mint(&grant, PHOTOS).unwrap().access_token;
    let p: Vec<&str> = compact.split('.').collect();
    let flattened = json!({
        "protected": p[0], "encrypted_key": p[1], "iv": p[2], "ciphertext": p[3], "tag": p[4],
    })
    .to_string();
    let photos = rs(&w, PHOTOS, &w.photos_key);
    for prefix in [" ", "\n", "\t\r\n "] {
        let token = format!("{prefix}{flattened}");
        assert!(
            jwe::decrypt(&token, &JwkSet::new(vec![w.photos_key.clone()]), &DecryptPolicy::default()).is_ok(),
            "the JOSE layer reads {prefix:?}-prefixed JSON"
        );
        let err = photos.open(&token).unwrap_err();
        assert_eq!(err, Error::InvalidToken(TokenRejection::NotCompact), "{prefix:?}");
    }
    let multi = rs_with(&w, PHOTOS, &w.photos_key, |b| {
        b.validation(Validation::default().dangerous_accept_multi_audience())
    });
    assert_eq!(multi.open(&format!("\n{flattened}")).unwrap().subject(), "alice");
}

/// A claim of the wrong type is reported by name (the typed parse used to report every such
/// failure as `scope/auth_time/acr/amr`).
#[test]
fn malformed_claims_are_named() {
    let w = world();
    let photos = rs(&w, PHOTOS, &w.photos_key);
    let cases: [(&str, Value); 11] = [
        ("scope", json!(5)),
        ("scope", json!(["photos.read"])),
        ("acr", json!(1)),
        ("amr", json!("pwd")),
        ("amr", json!([1])),
        ("auth_time", json!("yesterday")),
        ("nbf", json!("soon")),
        ("jti", json!(7)),
        ("client_id", json!(null)),
        ("iat", json!(1.5)),
        ("aud", json!([PHOTOS, 3])),
    ];
    for (claim, value) in cases {
        let mut claims = good_claims(PHOTOS);
        claims[claim] = value.clone();
        let tok = craft(&at_signer(&w.as_key), &claims, &w.photos_key.to_public().unwrap(), &[]);
        assert_eq!(
            rejection(photos.open(&tok).unwrap_err()),
            TokenRejection::MissingClaim(claim),
            "{claim} = {value}"
        );
    }
    for claim in ["sub", "jti", "iat", "exp", "iss", "client_id"] {
        let mut claims = good_claims(PHOTOS);
        claims.as_object_mut().unwrap().remove(claim);
        let tok = craft(&at_signer(&w.as_key), &claims, &w.photos_key.to_public().unwrap(), &[]);
        assert_eq!(rejection(photos.open(&tok).unwrap_err()), TokenRejection::MissingClaim(claim), "{claim}");
    }
    // Well-typed optional claims open and read back.
    let mut claims = good_claims(PHOTOS);
    claims["acr"] = "urn:mace:incommon:iap:silver".into();
    claims["amr"] = json!(["pwd", "otp"]);
    claims["auth_time"] = json!(now() - 10);
    let tok = craft(&at_signer(&w.as_key), &claims, &w.photos_key.to_public().unwrap(), &[]);
    let at = photos.open(&tok).unwrap();
    assert_eq!(at.standard_claims().amr.as_deref(), Some(&["pwd".to_owned(), "otp".to_owned()][..]));
}

/// A token without `kid` at an RS holding more keys than `max_decrypt_attempts`: the error says
/// that no `kid` picked the key and how many keys were tried, not "decryption failed". Whether
/// the token was tampered with does not change the message (decided from the counts).
#[test]
fn kid_less_token_beyond_attempt_bound_says_why() {
    let w = world();
    let keys: Vec<Jwk> = (0..5).map(|_| Jwk::generate(Curve::P256).unwrap()).collect();
    let rs_with = |keys: &[Jwk]| {
        ResourceServer::builder(PHOTOS, AS)
            .decryption_keys(JwkSet::new(keys.to_vec()))
            .issuer_keys(w.issuer.verification_keys().clone())
            .build()
            .unwrap()
    };
    let kid_less = |k: &Jwk| {
        let mut v = k.to_public().unwrap().to_value().unwrap();
        v.as_object_mut().unwrap().remove("kid");
        Jwk::from_value(&v).unwrap()
    };
    let craft_to = |k: &Jwk| craft(&at_signer(&w.as_key), &good_claims(PHOTOS), &kid_less(k), &[]);
    let tamper = |t: &str| {
        let mut p: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut ct = b64(&p[3]);
        ct[0] ^= 1;
        p[3] = enc64(&ct);
        p.join(".")
    };
    let five = rs_with(&keys);
    // Addressed to the first key: within the bound, opens.
    assert_eq!(five.open(&craft_to(&keys[0])).unwrap().subject(), "alice");
    // Addressed to the fifth key, or tampered: the same explicit error.
    for tok in [craft_to(&keys[4]), tamper(&craft_to(&keys[0]))] {
        let err = five.open(&tok).unwrap_err();
        let Error::NoMatchingKey(msg) = &err else { panic!("{err:?}") };
        assert!(msg.contains("kid") && msg.contains("4 of 5"), "{msg}");
    }
    // Within the bound, a failure stays the opaque `DecryptionFailed`.
    let four = rs_with(&keys[..4]);
    assert_eq!(four.open(&tamper(&craft_to(&keys[0]))).unwrap_err(), Error::DecryptionFailed);
    assert!(matches!(four.open(&craft_to(&keys[4])).unwrap_err(), Error::DecryptionFailed));
}

/// A scope is RFC 6749 §3.3 scope tokens, checked where it enters: a registry entry (by the API
/// or from JSON) and a grant. A quote or backslash would break the `WWW-Authenticate` challenge
/// that names a required scope; a control character would forge log lines.
#[test]
fn scopes_that_rfc_6749_forbids_are_refused_where_they_enter() {
    let key = Jwk::generate(Curve::P256).unwrap();
    for bad in ["say\"hi", "back\\slash", "tab\there", "new\nline", "", "two words", "é"] {
        let e = ResourceEntry::new(PHOTOS, ["photos.read", bad], public(&key)).unwrap_err();
        assert!(matches!(&e, Error::Malformed(m) if m.contains(PHOTOS)), "{bad:?}: {e:?}");
        let doc = json!({ "resources": [{ "resource": PHOTOS, "scopes_supported": [bad],
            "jwks": { "keys": [key.to_public().unwrap()] } }] });
        assert!(Registry::from_json(&doc.to_string()).is_err(), "{bad:?} accepted from JSON");
    }
    assert!(
        ResourceEntry::new(PHOTOS, ["photos.read", "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"], public(&key)).is_ok()
    );
    for bad in ["photos.read \"x\"", "photos.read\u{1b}[2J"] {
        let e = Grant::new("alice", "photo-app", bad, &[PHOTOS]).unwrap_err();
        assert_eq!(oauth_code(&e), OAuthErrorCode::InvalidScope, "{bad:?}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
    // Typed lists keep working: runs of spaces are tolerated, repeats count once.
    let g = Grant::new("alice", "photo-app", "  photos.read   photos.read friends.read ", &[PHOTOS]).unwrap();
    assert_eq!(g.scopes().to_string(), "photos.read friends.read");
}
