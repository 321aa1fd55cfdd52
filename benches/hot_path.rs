//! Hot-path benchmarks: what they compare and why is in `docs/decisions.md` ("Benchmarks measure
//! against a floor and a peer"); `scripts/bench-report.sh` turns the results into the README's table and chart.
//!
//! Every token has the same shape: an ES256 `at+jwt` JWS (~350-byte claims) inside
//! `ECDH-ES+A256KW` / `A256GCM` on P-256. Groups (named so `scripts/bench-report.sh` can build a
//! table from `target/criterion/<group>/<function>/new/estimates.json`):
//!
//! - `mint/{ours,floor,josekit}`: `Issuer::mint`; the provider's primitive floor for the same
//!   work (ephemeral P-256 keygen + ECDH + ES256 sign); josekit signing and encrypting.
//! - `open/{ours,floor,josekit}`: `ResourceServer::open`; ECDH (static × ephemeral) + ES256
//!   verify; josekit decrypting, verifying and validating.
//! - `open/{dpop,dpop_es256_floor}`: `open` of a DPoP-bound token (`cnf.jkt`) plus the proof
//!   check a resource server does (RFC 9449 §4.3, §7.1: `htm`, `htu`, `iat`, `ath`, `cnf.jkt`,
//!   signature, and the `jti` remembered in a `MemoryReplayStore`), a fresh proof per iteration
//!   made outside the timed part; the provider's raw ES256 verification of one proof's
//!   signature. Then `open/dpop` against `open/ours + open/dpop_es256_floor` is printed (ratio and
//!   extra µs; budget +10 µs), from criterion's medians and from an interleaved run of the three.
//! - `fanout_compact/{1,4,16}` (`Issuer::mint_all`) vs `fanout_json/{1,4,16}`
//!   (`Issuer::mint_multi_recipient`).
//! - `fanout16/{mint_x16,pool1,pool2,outside}`: 16 × `Issuer::mint` vs `mint_all` of 16 on a
//!   one- and two-thread rayon pool and from outside the global pool (`--features parallel`).
//! - `batch64/{threads1,threads2,sequential}`: `Issuer::mint_batch` of 64 requests.
//! - `jwe_raw/{encrypt,decrypt}`: `Encryptor::encrypt_compact` / `jwe::decrypt` of ~600 bytes.
//!
//! Run: `cargo bench --bench hot_path` (aws-lc) or
//! `cargo bench --bench hot_path --no-default-features --features rust-crypto,cli`.
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use josekit::jwe::{self as jk_jwe, JweHeader};
use josekit::jwk::Jwk as JkJwk;
use josekit::jws::{self as jk_jws, JwsHeader};
use josekit::jwt::{self as jk_jwt, JwtPayload, JwtPayloadValidator};
use serde_json::{Map, Value};

use jwe_mint::dpop::{
    check_and_remember, CheckedProof, DpopKey, DpopRequest, DpopValidation, MemoryReplayStore,
};
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::{ContentEncryptionAlg, KeyManagementAlg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{ResourceServer, ResourceServerBuilder, Validation};

const AS: &str = "https://as.example.com";
const MAX_FANOUT: usize = 16;
const FANOUTS: [usize; 3] = [1, 4, 16];

fn resource(i: usize) -> String {
    format!("https://rs{i:02}.api.example.com")
}

fn scope(i: usize) -> String {
    format!("rs{i:02}.read")
}

/// One AS, `MAX_FANOUT` resource servers with P-256 keys, one client allowed all of them.
struct World {
    as_key: Jwk,
    rs_keys: Vec<Jwk>,
    issuer: Issuer,
}

impl World {
    fn new() -> World {
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let rs_keys: Vec<Jwk> = (0..MAX_FANOUT).map(|_| Jwk::generate(Curve::P256).unwrap()).collect();
        let mut registry = Registry::default();
        for (i, k) in rs_keys.iter().enumerate() {
            let jwks = JwkSet::new(vec![k.to_public().unwrap()]);
            let entry = ResourceEntry::new(&resource(i), [scope(i), "profile".to_owned()], jwks).unwrap();
            registry.insert(entry).unwrap();
        }
        let all: Vec<String> = (0..MAX_FANOUT).map(resource).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let issuer = Issuer::builder(AS, &as_key)
            .registry(registry)
            .default_ttl(3600)
            .allow_client("photo-app-4f2a", &all)
            .unwrap()
            .build()
            .unwrap();
        World { as_key, rs_keys, issuer }
    }

    /// A grant over the first `n` resources. The claims of a single-audience token are ~350 bytes.
    fn grant(&self, n: usize) -> Grant {
        let resources: Vec<String> = (0..n).map(resource).collect();
        let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
        let scopes: Vec<String> = (0..n).map(scope).chain(["profile".to_owned()]).collect();
        Grant::new(
            "user-7d1c3b9e-2f44-4a58-9c1e-58f0b6a2d913",
            "photo-app-4f2a",
            &scopes.join(" "),
            &resources,
        )
        .unwrap()
        .with_authentication(now() - 120, Some("urn:mace:incommon:iap:silver"), &["pwd", "otp"])
        .with_claim("tenant", "acme-corp-eu-west-1")
        .unwrap()
    }

    fn resource_server(&self, i: usize) -> ResourceServer {
        self.resource_server_builder(i).build().unwrap()
    }

    fn resource_server_builder(&self, i: usize) -> ResourceServerBuilder {
        ResourceServer::builder(&resource(i), AS)
            .decryption_keys(JwkSet::new(vec![self.rs_keys[i].clone()]))
            .issuer_keys(self.issuer.verification_keys().clone())
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn jk_private(k: &Jwk) -> JkJwk {
    JkJwk::from_bytes(k.to_private_json().as_bytes()).unwrap()
}

fn jk_public(k: &Jwk) -> JkJwk {
    JkJwk::from_bytes(k.to_json().unwrap().as_bytes()).unwrap()
}

/// The inner JWS of one of our tokens, opened with RS 0's key.
fn inner_jws(w: &World, token: &str) -> String {
    let keys = JwkSet::new(vec![w.rs_keys[0].clone()]);
    let d = jwe::decrypt(token, &keys, &DecryptPolicy::default()).unwrap();
    String::from_utf8(d.plaintext.to_vec()).unwrap()
}

// ---- ours -------------------------------------------------------------------------------------

fn bench_ours(c: &mut Criterion, w: &World) {
    let grant = w.grant(1);
    let rs0 = resource(0);
    let rs = w.resource_server(0);
    let token = w.issuer.mint(&grant, &rs0).unwrap().access_token;
    assert_eq!(rs.open(&token).unwrap().subject(), grant.subject());
    let jws = inner_jws(w, &token);
    let claims_len = jws.split('.').nth(1).map_or(0, |p| p.len() * 3 / 4);
    eprintln!(
        "token shape: claims ≈ {claims_len} B, inner JWS {} B, compact JWE {} B",
        jws.len(),
        token.len()
    );

    c.benchmark_group("mint")
        .bench_function("ours", |b| b.iter(|| w.issuer.mint(black_box(&grant), black_box(&rs0)).unwrap()));
    c.benchmark_group("open").bench_function("ours", |b| b.iter(|| rs.open(black_box(&token)).unwrap()));
    // Opt-in RS cache: the same token seen again.
    let cached = w.resource_server_builder(0).cache(1024).build().unwrap();
    cached.open(&token).unwrap();
    c.benchmark_group("open")
        .bench_function("cache_hit", |b| b.iter(|| cached.open(black_box(&token)).unwrap()));
}

// ---- batch minting (feature `parallel`) ---------------------------------------------------

const BATCH: usize = 64;

fn bench_batch(c: &mut Criterion, w: &World) {
    let grant = w.grant(1);
    let rs0 = resource(0);
    let requests: Vec<(&Grant, &str)> = (0..BATCH).map(|_| (&grant, rs0.as_str())).collect();
    let mut g = c.benchmark_group("batch64");
    #[cfg(feature = "parallel")]
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_function(format!("threads{threads}"), |b| {
            b.iter(|| pool.install(|| w.issuer.mint_batch(black_box(&requests))))
        });
    }
    #[cfg(not(feature = "parallel"))]
    g.bench_function("sequential", |b| b.iter(|| w.issuer.mint_batch(black_box(&requests))));
    g.finish();
}

// ---- fan-out ----------------------------------------------------------------------------------

fn bench_fanout(c: &mut Criterion, w: &World) {
    let mut compact = c.benchmark_group("fanout_compact");
    for n in FANOUTS {
        let grant = w.grant(n);
        assert_eq!(w.issuer.mint_all(&grant).unwrap().tokens.len(), n);
        compact.bench_with_input(BenchmarkId::from_parameter(n), &grant, |b, g| {
            b.iter(|| w.issuer.mint_all(black_box(g)).unwrap())
        });
    }
    compact.finish();

    let mut general = c.benchmark_group("fanout_json");
    for n in FANOUTS {
        let grant = w.grant(n);
        let multi = w.issuer.mint_multi_recipient(&grant).unwrap();
        let last = w
            .resource_server_builder(n - 1)
            .validation(Validation::default().dangerous_accept_multi_audience())
            .build()
            .unwrap();
        last.open(&multi.access_token).unwrap();
        general.bench_with_input(BenchmarkId::from_parameter(n), &grant, |b, g| {
            b.iter(|| w.issuer.mint_multi_recipient(black_box(g)).unwrap())
        });
    }
    general.finish();
}

// ---- fan-out of 16 on a rayon pool vs 16 × mint -------------------------------------------------

/// `fanout16/mint_x16`: 16 `mint` calls on the calling thread (the baseline). With `parallel`:
/// `fanout16/pool1` and `pool2`: `mint_all` over the same 16 resources, called from inside a
/// one- and a two-thread pool (`pool.install` around the whole measurement, so no per-call hand-off
/// to the pool is timed); `fanout16/outside`: `mint_all` from the main thread, which is not a pool
/// thread, on rayon's global pool (`RAYON_NUM_THREADS`, else one thread per core). Without
/// `parallel`: `fanout16/mint_all`, sequential.
fn bench_fanout16(c: &mut Criterion, w: &World) {
    let grant = w.grant(MAX_FANOUT);
    let resources: Vec<String> = (0..MAX_FANOUT).map(resource).collect();
    let x16 = || resources.iter().map(|r| w.issuer.mint(black_box(&grant), r).unwrap()).collect::<Vec<_>>();
    assert_eq!(x16().len(), MAX_FANOUT);
    let mut g = c.benchmark_group("fanout16");
    g.bench_function("mint_x16", |b| b.iter(x16));
    #[cfg(feature = "parallel")]
    {
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            g.bench_function(format!("pool{threads}"), |b| {
                pool.install(|| b.iter(|| w.issuer.mint_all(black_box(&grant)).unwrap()))
            });
        }
        eprintln!("fanout16/outside: rayon global pool of {} threads", rayon::current_num_threads());
        g.bench_function("outside", |b| b.iter(|| w.issuer.mint_all(black_box(&grant)).unwrap()));
    }
    #[cfg(not(feature = "parallel"))]
    g.bench_function("mint_all", |b| b.iter(|| w.issuer.mint_all(black_box(&grant)).unwrap()));
    g.finish();
}

// ---- raw JWE ----------------------------------------------------------------------------------

fn bench_jwe_raw(c: &mut Criterion, w: &World) {
    let payload: Vec<u8> = (0..600u32).map(|i| b'a' + (i % 26) as u8).collect();
    let encryptor = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .protected_param("cty", "JWT")
        .recipient(&w.rs_keys[0].to_public().unwrap(), KeyManagementAlg::EcdhEsA256Kw);
    let token = encryptor.encrypt_compact(&payload).unwrap();
    let keys = JwkSet::new(vec![w.rs_keys[0].clone()]);
    let policy = DecryptPolicy::default();
    assert_eq!(&*jwe::decrypt(&token, &keys, &policy).unwrap().plaintext, &payload);

    let mut g = c.benchmark_group("jwe_raw");
    g.bench_function("encrypt", |b| b.iter(|| encryptor.encrypt_compact(black_box(&payload)).unwrap()));
    g.bench_function("decrypt", |b| b.iter(|| jwe::decrypt(black_box(&token), &keys, &policy).unwrap()));
    g.finish();
}

// ---- provider floor ---------------------------------------------------------------------------

/// The JWS signing input of one of our tokens (what the floor signs and verifies).
fn signing_input(w: &World) -> Vec<u8> {
    let token = w.issuer.mint(&w.grant(1), &resource(0)).unwrap().access_token;
    let jws = inner_jws(w, &token);
    let end = jws.rfind('.').unwrap();
    jws.as_bytes()[..end].to_vec()
}

#[cfg(feature = "aws-lc")]
mod floor {
    use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};

    /// Keys parsed once, as the library does.
    pub struct Floor {
        as_signing: EcdsaKeyPair,
        as_public: Vec<u8>,
        rs_private: PrivateKey,
        rs_public: Vec<u8>,
        rng: SystemRandom,
    }

    impl Floor {
        pub fn new() -> Floor {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let as_signing =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                    .unwrap();
            let as_public = as_signing.public_key().as_ref().to_vec();
            let rs_private = PrivateKey::generate(&agreement::ECDH_P256).unwrap();
            let rs_public = rs_private.compute_public_key().unwrap().as_ref().to_vec();
            Floor { as_signing, as_public, rs_private, rs_public, rng }
        }

        /// Ephemeral keygen (+ its public point, for `epk`) + ECDH with the RS key + ES256 sign.
        /// Returns (ephemeral public point, signature).
        pub fn mint(&self, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
            let eph = PrivateKey::generate(&agreement::ECDH_P256).unwrap();
            let eph_public = eph.compute_public_key().unwrap().as_ref().to_vec();
            let peer = UnparsedPublicKey::new(&agreement::ECDH_P256, &self.rs_public);
            let z = agreement::agree(&eph, peer, (), |z| Ok(z[0])).unwrap();
            std::hint::black_box(z);
            let sig = self.as_signing.sign(&self.rng, message).unwrap();
            (eph_public, sig.as_ref().to_vec())
        }

        /// ECDH (RS static × ephemeral from the token) + ES256 verify.
        pub fn open(&self, eph_public: &[u8], message: &[u8], sig: &[u8]) {
            let peer = UnparsedPublicKey::new(&agreement::ECDH_P256, eph_public);
            let z = agreement::agree(&self.rs_private, peer, (), |z| Ok(z[0])).unwrap();
            std::hint::black_box(z);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.as_public)
                .verify(message, sig)
                .unwrap();
        }
    }

    /// ES256 verification alone, the public key given as an uncompressed SEC1 point and parsed
    /// per call (a DPoP proof carries its key, so the server parses it for every proof).
    pub fn es256_verify(public_point: &[u8], message: &[u8], sig: &[u8]) {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public_point)
            .verify(message, sig)
            .unwrap();
    }
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
mod floor {
    use p256::ecdh::EphemeralSecret;
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
    use p256::elliptic_curve::ecdh::diffie_hellman;
    use p256::elliptic_curve::Generate;
    use p256::{PublicKey, SecretKey};
    use rand::rngs::SysRng;

    /// Keys parsed once, as the library does.
    pub struct Floor {
        as_signing: SigningKey,
        as_public: VerifyingKey,
        rs_private: SecretKey,
        rs_public: PublicKey,
    }

    impl Floor {
        pub fn new() -> Floor {
            let as_signing = SigningKey::try_generate_from_rng(&mut SysRng).unwrap();
            let as_public = *as_signing.verifying_key();
            let rs_private = SecretKey::try_generate_from_rng(&mut SysRng).unwrap();
            let rs_public = rs_private.public_key();
            Floor { as_signing, as_public, rs_private, rs_public }
        }

        /// Ephemeral keygen (+ its public point, for `epk`) + ECDH with the RS key + ES256 sign.
        /// Returns (ephemeral public point, signature).
        pub fn mint(&self, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
            let eph = EphemeralSecret::try_generate_from_rng(&mut SysRng).unwrap();
            let eph_public = eph.public_key().to_sec1_bytes().to_vec();
            let z = eph.diffie_hellman(&self.rs_public);
            std::hint::black_box(z.raw_secret_bytes()[0]);
            let sig: Signature = self.as_signing.try_sign(message).unwrap();
            (eph_public, sig.to_bytes().to_vec())
        }

        /// ECDH (RS static × ephemeral from the token) + ES256 verify.
        pub fn open(&self, eph_public: &[u8], message: &[u8], sig: &[u8]) {
            let peer = PublicKey::from_sec1_bytes(eph_public).unwrap();
            let z = diffie_hellman(self.rs_private.to_nonzero_scalar(), peer.as_affine());
            std::hint::black_box(z.raw_secret_bytes()[0]);
            let sig = Signature::from_slice(sig).unwrap();
            self.as_public.verify(message, &sig).unwrap();
        }
    }

    /// ES256 verification alone, the public key given as an uncompressed SEC1 point and parsed
    /// per call (a DPoP proof carries its key, so the server parses it for every proof).
    pub fn es256_verify(public_point: &[u8], message: &[u8], sig: &[u8]) {
        let key = VerifyingKey::from_sec1_bytes(public_point).unwrap();
        let sig = Signature::from_slice(sig).unwrap();
        key.verify(message, &sig).unwrap();
    }
}

fn bench_floor(c: &mut Criterion, w: &World) {
    let message = signing_input(w);
    let f = floor::Floor::new();
    let (eph, sig) = f.mint(&message);
    f.open(&eph, &message, &sig);
    c.benchmark_group("mint").bench_function("floor", |b| b.iter(|| f.mint(black_box(&message))));
    c.benchmark_group("open").bench_function("floor", |b| {
        b.iter(|| f.open(black_box(&eph), black_box(&message), black_box(&sig)))
    });
}

// ---- DPoP ---------------------------------------------------------------------------------------

const DPOP_METHOD: &str = "GET";
/// The path of the request a DPoP proof is made for (the query is not part of `htu`).
const DPOP_PATH: &str = "/photos/2026/albums?page=2";
/// A replay store is swapped for an empty one (outside the timed part) at this many proofs, so
/// a long run never fills it; a server's store holds the proofs of the last `DEFAULT_MAX_AGE`.
const DPOP_STORE_ROTATE: usize = 50_000;
/// Rounds of the interleaved measurement printed after the `open/dpop*` rows.
const DPOP_ROUNDS: usize = 2000;

/// Runs a future that never waits: the in-memory replay store answers at once.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the in-memory replay store never waits"),
    }
}

/// RS 0 with a DPoP-bound token (`cnf.jkt` of a client's P-256 key) and the client's key.
struct DpopWorld {
    rs: ResourceServer,
    key: DpopKey,
    token: String,
    uri: String,
    validation: DpopValidation,
}

impl DpopWorld {
    fn new(w: &World) -> DpopWorld {
        let key = DpopKey::generate().unwrap();
        let grant = w.grant(1).with_dpop_jkt(key.thumbprint()).unwrap();
        let token = w.issuer.mint(&grant, &resource(0)).unwrap().access_token;
        let uri = format!("{}{DPOP_PATH}", resource(0));
        let validation = DpopValidation::default();
        DpopWorld { rs: w.resource_server(0), key, token, uri, validation }
    }

    /// A fresh proof for the request (new `jti`, `iat` now, `ath` of the token): made outside
    /// the timed part.
    fn proof(&self) -> String {
        self.key.proof(DPOP_METHOD, &self.uri).access_token(&self.token).sign().unwrap()
    }

    /// What a resource server does for a DPoP request (as `BearerLayer` does): open the token,
    /// then check the proof against the request, the token's hash and its `cnf.jkt`, and
    /// remember it in the replay store.
    fn open(&self, proof: &str, store: &MemoryReplayStore) -> CheckedProof {
        let token = self.rs.open(&self.token).unwrap();
        let jkt = token.dpop_jkt().unwrap();
        let request =
            DpopRequest::new([proof], DPOP_METHOD, &self.uri, now()).access_token(&self.token).bound_to(jkt);
        ready(check_and_remember(&self.validation, &request, store)).unwrap()
    }
}

/// The replay store the measured requests share, swapped for an empty one after
/// `DPOP_STORE_ROTATE` proofs were handed out (a batch's inputs are all made before it runs).
/// Each input holds the store it is checked against and gives it back as output, so dropping a
/// full store is never timed.
struct Stores(RefCell<(Rc<MemoryReplayStore>, usize)>);

impl Stores {
    fn new() -> Stores {
        Stores(RefCell::new((Rc::new(MemoryReplayStore::default()), 0)))
    }

    fn current(&self) -> Rc<MemoryReplayStore> {
        let mut stores = self.0.borrow_mut();
        stores.1 += 1;
        if stores.1 >= DPOP_STORE_ROTATE {
            *stores = (Rc::new(MemoryReplayStore::default()), 0);
        }
        Rc::clone(&stores.0)
    }
}

/// The signing input, signature and key (uncompressed SEC1 point) of `proof`.
fn proof_parts(key: &DpopKey, proof: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let end = proof.rfind('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(&proof[end + 1..]).unwrap();
    let jwk = key.public_key().to_value().unwrap();
    let coordinate = |c: &str| URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
    let point = [vec![4u8], coordinate("x"), coordinate("y")].concat();
    (proof.as_bytes()[..end].to_vec(), sig, point)
}

/// `open/dpop`: `open` of a DPoP-bound token plus the full proof check with a fresh proof per
/// iteration (made in the untimed set-up); `open/dpop_es256_floor`: the provider's raw ES256
/// verification of one proof's signature, the key parsed from its point. The budget is
/// `open/dpop ≤ open/ours + open/dpop_es256_floor + 10 µs`, printed after the rows.
fn bench_dpop(c: &mut Criterion, w: &World, started: SystemTime) {
    let d = DpopWorld::new(w);
    let stores = Stores::new();
    let checked = d.open(&d.proof(), &stores.current());
    assert_eq!(checked.jkt, d.key.thumbprint());
    let sample = d.proof();
    let (input, sig, point) = proof_parts(&d.key, &sample);
    floor::es256_verify(&point, &input, &sig);

    let mut ran = false;
    let mut g = c.benchmark_group("open");
    g.bench_function("dpop", |b| {
        ran = true;
        b.iter_batched(
            || (d.proof(), stores.current()),
            |(proof, store)| {
                let checked = d.open(black_box(&proof), &store);
                (checked, proof, store)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("dpop_es256_floor", |b| {
        b.iter(|| floor::es256_verify(black_box(&point), black_box(&input), black_box(&sig)))
    });
    g.finish();
    if !ran {
        return; // filtered out: no summary
    }

    // From criterion's medians of this run (`open/ours` ran earlier in it).
    let rows = ["ours", "dpop_es256_floor", "dpop"].map(|name| criterion_median_us("open", name, started));
    if let [Some(open), Some(verify), Some(dpop)] = rows {
        print_dpop_budget("criterion medians", open, verify, dpop);
    }
    // The same three interleaved, one of each per round, in alternating order, each timed in the
    // thread's CPU time: on a shared machine their medians are comparable where separate
    // criterion rows (wall time) drift apart.
    let mut times = [(); 3].map(|_| Vec::with_capacity(DPOP_ROUNDS));
    let store = MemoryReplayStore::with_capacity(DPOP_ROUNDS);
    for round in 0..DPOP_ROUNDS {
        let proof = d.proof();
        let mut order = [0usize, 1, 2];
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let start = thread_cpu_ns();
            match i {
                0 => drop(black_box(d.rs.open(black_box(&d.token)).unwrap())),
                1 => floor::es256_verify(black_box(&point), black_box(&input), black_box(&sig)),
                _ => drop(black_box(d.open(black_box(&proof), &store))),
            }
            times[i].push(thread_cpu_ns().saturating_sub(start) as f64 / 1000.0);
        }
    }
    let [open, verify, dpop] = times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    });
    print_dpop_budget(&format!("interleaved, {DPOP_ROUNDS} rounds, median µs cpu"), open, verify, dpop);
}

/// The CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`), in ns: time the thread waited for a
/// core is not counted.
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

fn print_dpop_budget(how: &str, open: f64, verify: f64, dpop: f64) {
    let extra = dpop - (open + verify);
    eprintln!(
        "open/dpop ({how}): open {open:.1} µs + raw ES256 verify {verify:.1} µs = {:.1} µs; dpop {dpop:.1} µs; \
         ratio {:.3}×; extra {extra:+.1} µs (budget +10 µs: {})",
        open + verify,
        dpop / (open + verify),
        if extra <= 10.0 { "met" } else { "MISSED" }
    );
}

/// The median, in µs, of criterion's row `group/name` if it was measured since `since`.
fn criterion_median_us(group: &str, name: &str, since: SystemTime) -> Option<f64> {
    // Where criterion writes: `CRITERION_HOME`, else `<target dir>/criterion`.
    let dir = std::env::var_os("CRITERION_HOME").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("criterion")
    });
    let path = dir.join(group).join(name).join("new").join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(estimates["median"]["point_estimate"].as_f64()? / 1000.0)
}

// ---- josekit ----------------------------------------------------------------------------------

/// josekit doing the same token: ES256 `at+jwt` inside ECDH-ES+A256KW / A256GCM, with the same
/// claims (fresh `jti`, `iat`, `exp` per token), and on open decrypt + verify + validate.
struct Josekit {
    signer: jk_jws::alg::ecdsa::EcdsaJwsSigner,
    verifier: jk_jws::alg::ecdsa::EcdsaJwsVerifier,
    encrypter: jk_jwe::alg::ecdh_es::EcdhEsJweEncrypter,
    decrypter: jk_jwe::alg::ecdh_es::EcdhEsJweDecrypter,
    claims: Map<String, Value>,
    rs0: String,
}

impl Josekit {
    fn new(w: &World, claims: Map<String, Value>) -> Josekit {
        let mut signer = jk_jws::ES256.signer_from_jwk(&jk_private(&w.as_key)).unwrap();
        signer.set_key_id(w.as_key.kid().unwrap());
        Josekit {
            signer,
            verifier: jk_jws::ES256.verifier_from_jwk(&jk_public(&w.as_key)).unwrap(),
            encrypter: jk_jwe::ECDH_ES_A256KW.encrypter_from_jwk(&jk_public(&w.rs_keys[0])).unwrap(),
            decrypter: jk_jwe::ECDH_ES_A256KW.decrypter_from_jwk(&jk_private(&w.rs_keys[0])).unwrap(),
            claims,
            rs0: resource(0),
        }
    }

    fn mint(&self, jti: u64) -> String {
        let t = now();
        let mut claims = self.claims.clone();
        claims.insert("iat".into(), t.into());
        claims.insert("exp".into(), (t + 3600).into());
        claims.insert("jti".into(), format!("{jti:022}").into());
        let payload = JwtPayload::from_map(claims).unwrap();
        let mut jws_header = JwsHeader::new();
        jws_header.set_token_type("at+jwt");
        let jws = jk_jwt::encode_with_signer(&payload, &jws_header, &self.signer).unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_content_type("JWT");
        header.set_claim("iss", Some(AS.into())).unwrap();
        header.set_claim("aud", Some(self.rs0.clone().into())).unwrap();
        jk_jwe::serialize_compact(jws.as_bytes(), &header, &self.encrypter).unwrap()
    }

    fn open(&self, token: &str) -> JwtPayload {
        let (jws, header) = jk_jwe::deserialize_compact(token, &self.decrypter).unwrap();
        assert_eq!(header.content_type(), Some("JWT"));
        let (payload, jws_header) = jk_jwt::decode_with_verifier(&jws, &self.verifier).unwrap();
        assert_eq!(jws_header.token_type(), Some("at+jwt"));
        let mut validator = JwtPayloadValidator::new();
        validator.set_base_time(SystemTime::now());
        validator.set_issuer(AS);
        validator.set_audience(self.rs0.as_str());
        validator.validate(&payload).unwrap();
        payload
    }
}

fn bench_josekit(c: &mut Criterion, w: &World) {
    // The same claims as our tokens (taken from one of them).
    let token = w.issuer.mint(&w.grant(1), &resource(0)).unwrap().access_token;
    let claims = w.resource_server(0).open(&token).unwrap().raw_claims().clone();
    let jk = Josekit::new(w, claims);
    let token = jk.mint(0);
    assert_eq!(jk.open(&token).subject(), w.grant(1).subject().into());

    let mut counter = 0u64;
    c.benchmark_group("mint").bench_function("josekit", |b| {
        b.iter(|| {
            counter += 1;
            jk.mint(black_box(counter))
        })
    });
    c.benchmark_group("open").bench_function("josekit", |b| b.iter(|| jk.open(black_box(&token))));
}

// ---- main -------------------------------------------------------------------------------------

fn hot_path(c: &mut Criterion) {
    let started = SystemTime::now();
    let w = World::new();
    bench_ours(c, &w);
    bench_floor(c, &w);
    bench_dpop(c, &w, started);
    bench_josekit(c, &w);
    bench_fanout(c, &w);
    bench_fanout16(c, &w);
    bench_jwe_raw(c, &w);
    bench_batch(c, &w);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = hot_path
}
criterion_main!(benches);
