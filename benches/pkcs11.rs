//! Mint and open with keys inside a SoftHSM2 token against the same work with in-memory keys.
//! SoftHSM is software (OpenSSL inside), so the difference is mostly our PKCS#11 path
//! (session pool, attribute and mechanism conversions, the derive-read-destroy of the ECDH
//! secret) plus SoftHSM's own per-call bookkeeping.
//!
//! Groups: `pkcs11_mint/{memory,token}`: `Issuer::mint` with an ES256 AS key (P-256 RS key in
//! memory either way); `pkcs11_open/{memory,token}`: `ResourceServer::open` with the RS's
//! ECDH-ES+A256KW P-256 key in memory or in the token.
//!
//! Our overhead per operation (feature `aws-lc`, the default): each of `pkcs11_es256_sign` and
//! `pkcs11_ecdh_p256` has four rows on the same keys:
//! - `raw_cryptoki`: cryptoki called directly on one open session: SHA-256 on the host + C_Sign
//!   (CKM_ECDSA); C_DeriveKey (CKM_ECDH1_DERIVE, CKD_NULL) + read CKA_VALUE + C_DestroyObject;
//! - `ours_token`: the same operation through jwe-mint with the token key: `jws::Signer::sign`
//!   (a 200-byte payload); `jwe::decrypt` of an `ECDH-ES` compact JWE (16-byte plaintext);
//! - `raw_memory` / `ours_memory`: the same with an in-memory key (aws-lc-rs directly, and
//!   jwe-mint), which shows what the JOSE work around the primitive costs.
//!
//! Our PKCS#11 overhead is `(ours_token − ours_memory) − (raw_cryptoki − raw_memory)`: the token
//! path's extra time minus the token's own extra time. For signing, `ours_token − raw_cryptoki`
//! alone is already a bound (the JWS framing is two base64 encodings). These two groups measure
//! the CPU time of the benchmark thread (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! SoftHSM runs on the calling thread, and on a shared machine wall time mostly measures the
//! neighbours. Their unit is "µs cpu". After them the same eight operations run interleaved (one
//! of each per round, in alternating order, 3000 rounds) and their median CPU times and the two
//! overheads are printed:
//! on a busy machine these are comparable where separate criterion rows drift apart.
//!
//! Run: `cargo bench --bench pkcs11 --features pkcs11` (needs `softhsm2`; makes a throwaway token
//! directory under the system temp dir).
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, PublicKeyUse};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;

const AS: &str = "https://as.example.com";
const RS: &str = "https://api.example.com";
const PIN: &str = "bench-pin-1234";

fn softhsm() -> (PathBuf, PathBuf) {
    let module =
        PathBuf::from(std::env::var("SOFTHSM2_MODULE").unwrap_or("/usr/lib/softhsm/libsofthsm2.so".into()));
    let dir = std::env::temp_dir().join(format!("jwe-mint-bench-softhsm-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nlog.level = ERROR\n", dir.join("tokens").display()),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ok = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "bench", "--so-pin", "so-1234", "--pin", PIN])
        .output()
        .expect("softhsm2-util")
        .status
        .success();
    assert!(ok, "softhsm2-util --init-token");
    let pin_file = dir.join("pin");
    std::fs::write(&pin_file, PIN).unwrap();
    (module, pin_file)
}

fn issuer(as_key: &Jwk, rs_public: &Jwk) -> Issuer {
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(RS, ["read"], JwkSet::new(vec![rs_public.clone()])).unwrap()).unwrap();
    Issuer::builder(AS, as_key).registry(reg).allow_client("app", &[RS]).unwrap().build().unwrap()
}

fn rs(rs_key: &Jwk, as_key: &Jwk) -> ResourceServer {
    ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap()
}

/// The token, the PIN file and the four P-256 keys, made once for both criterion groups.
struct Fixture {
    #[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
    pin_file: PathBuf,
    as_mem: Jwk,
    as_tok: Jwk,
    rs_mem: Jwk,
    rs_tok: Jwk,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (module, pin_file) = softhsm();
        let uri = |object: &str| {
            format!(
                "pkcs11:token=bench;object={object}?module-path={}&pin-source=file:{}",
                module.display(),
                pin_file.display()
            )
        };
        Fixture {
            as_mem: Jwk::generate(Curve::P256).unwrap(),
            as_tok: Jwk::generate_in_pkcs11(&uri("as"), Curve::P256, PublicKeyUse::Signature).unwrap(),
            rs_mem: Jwk::generate(Curve::P256).unwrap(),
            rs_tok: Jwk::generate_in_pkcs11(&uri("rs"), Curve::P256, PublicKeyUse::Encryption).unwrap(),
            pin_file,
        }
    })
}

fn bench(c: &mut Criterion) {
    let Fixture { as_mem, as_tok, rs_mem, rs_tok, .. } = fixture();
    let grant = Grant::new("alice", "app", "read", &[RS]).unwrap();

    let mut g = c.benchmark_group("pkcs11_mint");
    for (name, as_key) in [("memory", as_mem), ("token", as_tok)] {
        let issuer = issuer(as_key, &rs_mem.to_public().unwrap());
        g.bench_function(name, |b| b.iter(|| issuer.mint(&grant, RS).unwrap()));
    }
    g.finish();

    let mut g = c.benchmark_group("pkcs11_open");
    for (name, rs_key) in [("memory", rs_mem), ("token", rs_tok)] {
        let token = issuer(as_mem, &rs_key.to_public().unwrap()).mint(&grant, RS).unwrap().access_token;
        let rs = rs(rs_key, as_mem);
        assert_eq!(rs.open(&token).unwrap().subject(), "alice");
        g.bench_function(name, |b| b.iter(|| rs.open(&token).unwrap()));
    }
    g.finish();
}

/// CPU time of the calling thread, user and kernel (`CLOCK_THREAD_CPUTIME_ID`).
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

impl criterion::measurement::Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        self
    }
}

impl criterion::measurement::ValueFormatter for ThreadCpu {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1000.0);
        "µs cpu"
    }
    fn scale_throughputs(&self, _: f64, _: &criterion::Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v = 1e9 / *v);
        "ops/s cpu"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// `raw_cryptoki` / `ours_token` / `raw_memory` / `ours_memory` for ES256 signing and P-256 ECDH
/// (see the module documentation).
#[cfg(feature = "aws-lc")]
fn overhead(c: &mut Criterion<ThreadCpu>) {
    let Fixture { pin_file, as_mem, as_tok, rs_mem, rs_tok } = fixture();
    use aws_lc_rs::{agreement, digest, rand::SystemRandom, signature};
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error as CkError, RvError};
    use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    use jwe_mint::jwa::{ContentEncryptionAlg, KeyManagementAlg, SigningAlg};
    use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
    use jwe_mint::jws::{Header, Signer};

    // The same library the keys were opened through (one C_Initialize per process: the second
    // answers CKR_CRYPTOKI_ALREADY_INITIALIZED), one session, logged in once.
    let module = std::env::var("SOFTHSM2_MODULE").unwrap_or("/usr/lib/softhsm/libsofthsm2.so".into());
    let ctx = Pkcs11::new(module).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label().trim_end() == "bench"))
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let pin = std::fs::read_to_string(pin_file).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(pin.trim()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let find = |label: &str| {
        let found = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(label.into())])
            .unwrap();
        assert_eq!(found.len(), 1);
        found[0]
    };
    let (as_handle, rs_handle) = (find("as"), find("rs"));
    let rng = SystemRandom::new();

    // ES256: the JWS signing input is `header.payload`; 200 bytes of payload as in a small token.
    let payload = vec![b'x'; 200];
    let input = {
        let signed = Signer::new(as_mem, SigningAlg::Es256, Header::new()).unwrap().sign(&payload).unwrap();
        signed.rsplit_once('.').unwrap().0.to_owned()
    };
    let aws_signer = signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let mut g = c.benchmark_group("pkcs11_es256_sign");
    g.bench_function("raw_cryptoki", |b| {
        b.iter(|| {
            let digest = digest::digest(&digest::SHA256, input.as_bytes());
            session.sign(&Mechanism::Ecdsa, as_handle, digest.as_ref()).unwrap()
        })
    });
    let ours = Signer::new(as_tok, SigningAlg::Es256, Header::new()).unwrap();
    g.bench_function("ours_token", |b| b.iter(|| ours.sign(&payload).unwrap()));
    g.bench_function("raw_memory", |b| b.iter(|| aws_signer.sign(&rng, input.as_bytes()).unwrap()));
    let ours = Signer::new(as_mem, SigningAlg::Es256, Header::new()).unwrap();
    g.bench_function("ours_memory", |b| b.iter(|| ours.sign(&payload).unwrap()));
    g.finish();

    // ECDH on P-256 with a peer point (an `ECDH-ES` JWE's epk).
    let jwe_to = |key: &Jwk| {
        Encryptor::new(ContentEncryptionAlg::A128Gcm)
            .recipient(&key.to_public().unwrap(), KeyManagementAlg::EcdhEs)
            .encrypt_compact(&[7u8; 16])
            .unwrap()
    };
    let peer = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    let peer: serde_json::Value = serde_json::from_str(&peer.to_json().unwrap()).unwrap();
    let coordinate = |name: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(peer[name].as_str().unwrap()).unwrap()
    };
    let point = [vec![0x04], coordinate("x"), coordinate("y")].concat();
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::ValueLen(32u64.into()),
    ];
    let aws_private = agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap();
    let mut g = c.benchmark_group("pkcs11_ecdh_p256");
    g.bench_function("raw_cryptoki", |b| {
        b.iter(|| {
            let mech = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point));
            let secret = session.derive_key(&mech, rs_handle, &template).unwrap();
            let value = session.get_attributes(secret, &[AttributeType::Value]).unwrap();
            session.destroy_object(secret).unwrap();
            value
        })
    });
    let (token_jwe, token_keys) = (jwe_to(rs_tok), JwkSet::new(vec![rs_tok.clone()]));
    let policy = DecryptPolicy::default();
    g.bench_function("ours_token", |b| b.iter(|| jwe::decrypt(&token_jwe, &token_keys, &policy).unwrap()));
    g.bench_function("raw_memory", |b| {
        b.iter(|| {
            let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point);
            agreement::agree(&aws_private, peer, (), |z| Ok(z.to_vec())).unwrap()
        })
    });
    let (memory_jwe, memory_keys) = (jwe_to(rs_mem), JwkSet::new(vec![rs_mem.clone()]));
    g.bench_function("ours_memory", |b| b.iter(|| jwe::decrypt(&memory_jwe, &memory_keys, &policy).unwrap()));
    g.finish();

    // The same eight operations interleaved, one of each per round, timed one by one: on a busy
    // machine the medians of one run are comparable where separate criterion rows are not.
    let ours_sign = Signer::new(as_tok, SigningAlg::Es256, Header::new()).unwrap();
    let memory_sign = Signer::new(as_mem, SigningAlg::Es256, Header::new()).unwrap();
    type Op<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let ops: [Op; 8] = [
        (
            "es256_sign/raw_cryptoki",
            Box::new(|| {
                let d = digest::digest(&digest::SHA256, input.as_bytes());
                session.sign(&Mechanism::Ecdsa, as_handle, d.as_ref()).unwrap();
            }),
        ),
        ("es256_sign/ours_token", Box::new(|| drop(ours_sign.sign(&payload).unwrap()))),
        (
            "es256_sign/raw_memory",
            Box::new(|| {
                aws_signer.sign(&rng, input.as_bytes()).unwrap();
            }),
        ),
        ("es256_sign/ours_memory", Box::new(|| drop(memory_sign.sign(&payload).unwrap()))),
        (
            "ecdh_p256/raw_cryptoki",
            Box::new(|| {
                let mech = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point));
                let secret = session.derive_key(&mech, rs_handle, &template).unwrap();
                session.get_attributes(secret, &[AttributeType::Value]).unwrap();
                session.destroy_object(secret).unwrap();
            }),
        ),
        ("ecdh_p256/ours_token", Box::new(|| drop(jwe::decrypt(&token_jwe, &token_keys, &policy).unwrap()))),
        (
            "ecdh_p256/raw_memory",
            Box::new(|| {
                let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point);
                agreement::agree(&aws_private, peer, (), |z| Ok(z.to_vec())).unwrap();
            }),
        ),
        (
            "ecdh_p256/ours_memory",
            Box::new(|| drop(jwe::decrypt(&memory_jwe, &memory_keys, &policy).unwrap())),
        ),
    ];
    let mut samples = vec![Vec::new(); ops.len()];
    for round in 0..3000 {
        // Forwards, then backwards: no operation always runs first in a round (cold caches).
        let mut order: Vec<usize> = (0..ops.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let start = thread_cpu_ns();
            ops[i].1();
            samples[i].push(thread_cpu_ns().saturating_sub(start));
        }
    }
    let median = |times: &mut Vec<u64>| {
        times.sort_unstable();
        times[times.len() / 2] as f64 / 1000.0
    };
    let m: Vec<f64> = samples.iter_mut().map(median).collect();
    println!("\ninterleaved, 3000 rounds, median µs cpu:");
    for ((name, _), v) in ops.iter().zip(&m) {
        println!("  {name:<24} {v:8.1}");
    }
    for (i, what) in [(0, "es256_sign"), (4, "ecdh_p256")] {
        println!(
            "  {what}: ours_token − raw_cryptoki {:.1}; our PKCS#11 overhead (ours_token − ours_memory) − \
             (raw_cryptoki − raw_memory) {:.1}",
            m[i + 1] - m[i],
            (m[i + 1] - m[i + 3]) - (m[i] - m[i + 2])
        );
    }
}

#[cfg(not(feature = "aws-lc"))]
fn overhead(_: &mut Criterion<ThreadCpu>) {}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_group! {
    name = overhead_benches;
    config = Criterion::default()
        .with_measurement(ThreadCpu)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = overhead
}
criterion_main!(benches, overhead_benches);
