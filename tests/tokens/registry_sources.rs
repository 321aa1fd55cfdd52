//! Registry entries whose keys live on the wire (`jwks_uri`, or RFC 9728 discovery), bound to a
//! `JwkSource` made in the test (no HTTP here): the JSON shape, which published key the issuer
//! encrypts to, the refusals (`server_error`, never an unencrypted token), and the choice being
//! remembered per snapshot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::KeyManagementAlg;
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource, KeySourceError};
use jwe_mint::registry::{KeyLocation, Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::{Error, Misuse};
use serde_json::{json, Value};

const AS: &str = "https://as.example.com";
const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com";

/// A key source whose set the test swaps; counts `keys()` calls.
#[derive(Debug)]
struct TestSource {
    set: Mutex<Result<Arc<JwkSet>, KeySourceError>>,
    reads: AtomicUsize,
}

impl TestSource {
    fn new(keys: Vec<Jwk>) -> Arc<TestSource> {
        Arc::new(TestSource { set: Mutex::new(Ok(Arc::new(JwkSet::new(keys)))), reads: AtomicUsize::new(0) })
    }

    fn publish(&self, keys: Vec<Jwk>) {
        *self.set.lock().unwrap() = Ok(Arc::new(JwkSet::new(keys)));
    }

    fn fail(&self) {
        *self.set.lock().unwrap() = Err(KeySourceError::Unavailable {
            location: "https://photos.example.com/jwks".into(),
            reason: "connection refused".into(),
            source: None,
        });
    }
}

impl JwkSource for TestSource {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.set.lock().unwrap().clone()
    }

    fn location(&self) -> &str {
        "https://photos.example.com/jwks"
    }
}

fn public(k: &Jwk) -> Jwk {
    k.to_public().unwrap()
}

fn issuer(registry: Registry) -> (Issuer, Jwk) {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(registry)
        .allow_client("app", &[PHOTOS, FRIENDS])
        .unwrap()
        .build()
        .unwrap();
    (issuer, as_key)
}

fn remote_registry(entries: Vec<ResourceEntry>) -> Registry {
    let mut reg = Registry::default();
    for e in entries {
        reg.insert(e).unwrap();
    }
    reg
}

fn grant(resources: &[&str]) -> Grant {
    Grant::new("alice", "app", "photos.read friends.read", resources).unwrap()
}

fn header(token: &str) -> Value {
    let first = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(first).unwrap()).unwrap()
}

fn opens(token: &str, resource: &str, rs_key: &Jwk, as_key: &Jwk) {
    let rs = ResourceServer::builder(resource, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(JwkSet::new(vec![public(as_key)]))
        .build()
        .unwrap();
    assert_eq!(rs.open(token).unwrap().subject(), "alice");
}

#[track_caller]
fn assert_no_usable_key(e: &Error) {
    assert!(matches!(e, Error::KeySource(KeySourceError::NoUsableKey { .. })), "{e:?}");
    assert!(e.to_string().starts_with("server_error: "), "{e}");
}

#[test]
fn registry_entries_with_jwks_uri_or_neither_round_trip() {
    let doc = json!({"resources": [
        {"resource": PHOTOS, "scopes_supported": ["photos.read"], "jwks_uri": "https://photos.example.com/jwks.json",
         "encryption_alg": "ECDH-ES+A128KW"},
        {"resource": FRIENDS, "scopes_supported": ["friends.read"]},
    ]});
    let reg = Registry::from_json(&doc.to_string()).unwrap();
    let photos = reg.get(PHOTOS).unwrap();
    assert_eq!(photos.key_location(), KeyLocation::JwksUri("https://photos.example.com/jwks.json"));
    assert_eq!(photos.encryption_alg(), Some(KeyManagementAlg::EcdhEsA128Kw));
    assert!(photos.current_key().is_none() && photos.keys().count() == 0 && photos.key_source().is_none());
    assert_eq!(reg.get(FRIENDS).unwrap().key_location(), KeyLocation::Discover);

    let text = reg.to_json().unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["resources"][0]["jwks_uri"], "https://photos.example.com/jwks.json");
    assert_eq!(written["resources"][0]["encryption_alg"], "ECDH-ES+A128KW");
    assert!(written["resources"][0].get("jwks").is_none());
    assert!(
        written["resources"][1].get("jwks").is_none() && written["resources"][1].get("jwks_uri").is_none()
    );
    let again = Registry::from_json(&text).unwrap();
    assert_eq!(again.get(PHOTOS).unwrap().key_location(), photos.key_location());
    assert_eq!(again.get(FRIENDS).unwrap().key_location(), KeyLocation::Discover);
    assert_eq!(again.to_json().unwrap(), text);

    // A bound source is not written back: the RS publishes its keys.
    let key = Jwk::generate(Curve::P256).unwrap();
    photos.set_key_source(TestSource::new(vec![public(&key)])).unwrap();
    assert_eq!(reg.to_json().unwrap(), text);

    let entry = |extra: Value| {
        let mut e = json!({"resource": PHOTOS, "scopes_supported": ["photos.read"]});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Registry::from_json(&json!({"resources": [e]}).to_string())
    };
    let both = entry(
        json!({"jwks": {"keys": [public(&key).to_value().unwrap()]}, "jwks_uri": "https://photos.example.com/jwks"}),
    );
    assert!(
        matches!(&both, Err(Error::Malformed(m)) if m.contains("exclusive") && m.contains(PHOTOS)),
        "{both:?}"
    );
    for bad in [
        "http://photos.example.com/jwks",
        "https://user:pw@photos.example.com/jwks",
        "https://photos.example.com/jwks#f",
        "jwks.json",
    ] {
        let e = entry(json!({"jwks_uri": bad})).unwrap_err();
        assert!(matches!(&e, Error::Malformed(m) if m.contains("jwks_uri")), "{bad}: {e:?}");
    }
    assert!(entry(json!({"jwks_uri": 7})).is_err());
    for bad in ["RSA1_5", "dir", "PBES2-HS256+A128KW", "ES256", "nope"] {
        assert!(entry(json!({"encryption_alg": bad})).is_err(), "{bad}");
    }
    // A static key that does not fit the entry's encryption_alg is refused at load.
    let rsa_alg = entry(
        json!({"jwks": {"keys": [public(&key).to_value().unwrap()]}, "encryption_alg": "RSA-OAEP-256"}),
    );
    assert!(matches!(rsa_alg, Err(Error::InvalidKey(_))), "{rsa_alg:?}");
}

#[test]
fn an_unbound_remote_entry_refuses_to_mint_with_server_error() {
    let reg = remote_registry(vec![
        ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks").unwrap(),
        ResourceEntry::discovered(FRIENDS, ["friends.read"]).unwrap(),
    ]);
    let (issuer, _) = issuer(reg);
    for resource in [PHOTOS, FRIENDS] {
        let e = issuer.mint(&grant(&[resource]), resource).unwrap_err();
        match &e {
            Error::KeySource(KeySourceError::Unavailable { reason, .. }) => {
                assert_eq!(reason, "not fetched yet")
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("server_error: "), "{e}");
    }
    assert!(issuer.mint_all(&grant(&[PHOTOS, FRIENDS])).is_err());
    // OAuth checks still come first: an unknown client is told so, not about keys.
    let stranger = Grant::new("alice", "stranger", "photos.read", &[PHOTOS]).unwrap();
    assert!(matches!(issuer.mint(&stranger, PHOTOS), Err(Error::OAuth { .. })));
}

#[test]
fn minting_encrypts_to_the_first_usable_published_key_on_every_path() {
    let photos_key = Jwk::generate(Curve::P256).unwrap().with_use("enc");
    let friends_key = Jwk::generate(Curve::X25519).unwrap();
    let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
    let rsa1_5 = Jwk::generate_rsa(2048).unwrap().with_use("enc").with_alg("RSA1_5");
    let signing_alg = Jwk::generate(Curve::P256).unwrap().with_use("enc").with_alg("ES256");
    let low_order = json!({"kty": "OKP", "crv": "X25519", "use": "enc", "kid": "low", "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
    let low_order = Jwk::from_value(&low_order).unwrap();
    // Skipped in order: a signing key, RSA1_5, a signing alg, a low-order point; then the good key.
    let photos_set =
        vec![public(&sig), public(&rsa1_5), public(&signing_alg), low_order, public(&photos_key)];
    let photos =
        ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks").unwrap();
    photos.set_key_source(TestSource::new(photos_set)).unwrap();
    // A set without `use: sig` keys: keys without `use` are candidates.
    let friends = ResourceEntry::discovered(FRIENDS, ["friends.read"]).unwrap();
    friends.set_key_source(TestSource::new(vec![public(&friends_key)])).unwrap();
    let (issuer, as_key) = issuer(remote_registry(vec![photos, friends]));

    let chosen = issuer.registry().get(PHOTOS).unwrap().encryption_key().unwrap();
    assert_eq!(chosen.key().kid(), photos_key.kid());
    assert_eq!(chosen.alg(), KeyManagementAlg::EcdhEsA256Kw);

    let token = issuer.mint(&grant(&[PHOTOS]), PHOTOS).unwrap();
    assert_eq!(header(&token.access_token)["kid"], photos_key.kid().unwrap());
    opens(&token.access_token, PHOTOS, &photos_key, &as_key);

    let all = issuer.mint_all(&grant(&[PHOTOS, FRIENDS])).unwrap();
    opens(&all.tokens[0].access_token, PHOTOS, &photos_key, &as_key);
    opens(&all.tokens[1].access_token, FRIENDS, &friends_key, &as_key);

    let g = grant(&[PHOTOS, FRIENDS]);
    let batch = issuer.mint_batch(&[(&g, PHOTOS), (&g, FRIENDS)]);
    opens(&batch[0].as_ref().unwrap().access_token, PHOTOS, &photos_key, &as_key);
    opens(&batch[1].as_ref().unwrap().access_token, FRIENDS, &friends_key, &as_key);

    let multi = issuer.mint_multi_recipient(&g).unwrap();
    let recipients: Value = serde_json::from_str(&multi.access_token).unwrap();
    let kids: Vec<&str> = recipients["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["header"]["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [photos_key.kid().unwrap(), friends_key.kid().unwrap()]);
}

#[test]
fn keys_without_use_are_candidates_only_in_a_set_without_signing_keys() {
    let no_use = Jwk::generate(Curve::P256).unwrap();
    let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
    let entry =
        ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks").unwrap();
    let source = TestSource::new(vec![public(&sig), public(&no_use)]);
    entry.set_key_source(source.clone()).unwrap();
    assert_no_usable_key(&entry.encryption_key().unwrap_err());
    source.publish(vec![public(&no_use)]);
    assert_eq!(entry.encryption_key().unwrap().key().kid(), no_use.kid());
}

#[test]
fn a_set_of_signing_keys_only_is_no_usable_key_on_every_mint_path() {
    let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
    let entry =
        ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks").unwrap();
    entry.set_key_source(TestSource::new(vec![public(&sig)])).unwrap();
    let other = Jwk::generate(Curve::P256).unwrap();
    let friends = ResourceEntry::new(FRIENDS, ["friends.read"], JwkSet::new(vec![public(&other)])).unwrap();
    let (issuer, _) = issuer(remote_registry(vec![entry, friends]));
    let e = issuer.mint(&grant(&[PHOTOS]), PHOTOS).unwrap_err();
    assert_no_usable_key(&e);
    assert!(e.to_string().contains("https://photos.example.com/jwks"), "{e}");
    assert_no_usable_key(&issuer.mint_all(&grant(&[FRIENDS, PHOTOS])).unwrap_err());
    let g = grant(&[PHOTOS, FRIENDS]);
    let batch = issuer.mint_batch(&[(&g, FRIENDS), (&g, PHOTOS)]);
    assert!(batch[0].is_ok(), "the other resource still gets its token");
    assert_no_usable_key(batch[1].as_ref().unwrap_err());
    assert_no_usable_key(&issuer.mint_multi_recipient(&g).unwrap_err());
}

#[test]
fn the_entry_encryption_alg_applies_to_keys_without_their_own() {
    let plain = Jwk::generate(Curve::P256).unwrap();
    let pinned = Jwk::generate(Curve::P256).unwrap().with_alg("ECDH-ES+A192KW");
    let entry = ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks")
        .unwrap()
        .with_encryption_alg(KeyManagementAlg::EcdhEsA128Kw)
        .unwrap();
    let source = TestSource::new(vec![public(&plain)]);
    entry.set_key_source(source.clone()).unwrap();
    let (issuer, as_key) = issuer(remote_registry(vec![entry]));
    let token = issuer.mint(&grant(&[PHOTOS]), PHOTOS).unwrap();
    assert_eq!(header(&token.access_token)["alg"], "ECDH-ES+A128KW");
    opens(&token.access_token, PHOTOS, &plain, &as_key);
    // The key's own `alg` wins.
    source.publish(vec![public(&pinned)]);
    let token = issuer.mint(&grant(&[PHOTOS]), PHOTOS).unwrap();
    assert_eq!(header(&token.access_token)["alg"], "ECDH-ES+A192KW");
    // Without either: the default for the key type.
    let bare = ResourceEntry::discovered(PHOTOS, ["photos.read"]).unwrap();
    bare.set_key_source(TestSource::new(vec![public(&plain)])).unwrap();
    assert_eq!(bare.encryption_key().unwrap().alg(), KeyManagementAlg::EcdhEsA256Kw);
    // Static entries follow the same rule.
    let fixed = ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![public(&plain)]))
        .unwrap()
        .with_encryption_alg(KeyManagementAlg::EcdhEs)
        .unwrap();
    assert_eq!(fixed.current_alg(), Some(KeyManagementAlg::EcdhEs));
}

#[test]
fn the_choice_is_remembered_per_snapshot_and_follows_rotation() {
    let old = Jwk::generate(Curve::P256).unwrap();
    let new = Jwk::generate(Curve::P256).unwrap();
    let entry =
        ResourceEntry::from_jwks_uri(PHOTOS, ["photos.read"], "https://photos.example.com/jwks").unwrap();
    let source = TestSource::new(vec![public(&old)]);
    entry.set_key_source(source.clone()).unwrap();
    let first = entry.encryption_key().unwrap();
    let second = entry.encryption_key().unwrap();
    // The same allocation: chosen once for this snapshot, not re-checked.
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(source.reads.load(Ordering::SeqCst), 2, "one snapshot read per mint");
    // The RS publishes its next key first: the first usable key wins.
    source.publish(vec![public(&new), public(&old)]);
    let rotated = entry.encryption_key().unwrap();
    assert_eq!(rotated.key().kid(), new.kid());
    assert!(Arc::ptr_eq(&rotated, &entry.encryption_key().unwrap()));
    // A failing source fails closed.
    source.fail();
    let e = entry.encryption_key().unwrap_err();
    assert!(
        matches!(&e, Error::KeySource(KeySourceError::Unavailable { reason, .. }) if reason == "connection refused"),
        "{e:?}"
    );
}

#[test]
fn binding_is_for_remote_entries_and_happens_once() {
    let key = Jwk::generate(Curve::P256).unwrap();
    let mut fixed = ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![public(&key)])).unwrap();
    assert_eq!(fixed.key_location(), KeyLocation::Static);
    assert!(matches!(
        fixed.set_key_source(TestSource::new(vec![])),
        Err(Error::Misuse(Misuse::KeySource { .. }))
    ));
    assert!(Arc::ptr_eq(&fixed.encryption_key().unwrap(), &fixed.encryption_key().unwrap()));
    assert!(fixed.rotate_to(public(&Jwk::generate(Curve::P256).unwrap())).is_ok());

    let mut remote = ResourceEntry::discovered(PHOTOS, ["photos.read"]).unwrap();
    remote.set_key_source(TestSource::new(vec![public(&key)])).unwrap();
    assert!(matches!(
        remote.set_key_source(TestSource::new(vec![])),
        Err(Error::Misuse(Misuse::KeySource { .. }))
    ));
    assert_eq!(remote.key_source().unwrap().location(), "https://photos.example.com/jwks");
    assert!(matches!(remote.rotate_to(public(&key)), Err(Error::Misuse(Misuse::KeySource { .. }))));
    assert!(matches!(remote.remove_key("x"), Err(Error::Misuse(Misuse::KeySource { .. }))));
}
