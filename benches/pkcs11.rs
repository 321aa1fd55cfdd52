//! Mint and open with keys inside a SoftHSM2 token against the same work with in-memory keys
//! (issue H). SoftHSM is software (OpenSSL inside), so the difference is mostly our PKCS#11 path
//! (session pool, attribute and mechanism conversions, the derive-read-destroy of the ECDH
//! secret) plus SoftHSM's own per-call bookkeeping.
//!
//! Groups: `pkcs11_mint/{memory,token}`: `Issuer::mint` with an ES256 AS key (P-256 RS key in
//! memory either way); `pkcs11_open/{memory,token}`: `ResourceServer::open` with the RS's
//! ECDH-ES+A256KW P-256 key in memory or in the token.
//!
//! Run: `cargo bench --bench pkcs11 --features pkcs11` (needs `softhsm2`; makes a throwaway token
//! directory under the system temp dir).

use std::path::PathBuf;
use std::process::Command;
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
    ResourceServer::new(
        RS,
        JwkSet::new(vec![rs_key.clone()]),
        AS,
        JwkSet::new(vec![as_key.to_public().unwrap()]),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let (module, pin_file) = softhsm();
    let uri = |object: &str| {
        format!(
            "pkcs11:token=bench;object={object}?module-path={}&pin-source=file:{}",
            module.display(),
            pin_file.display()
        )
    };
    let as_mem = Jwk::generate(Curve::P256).unwrap();
    let as_tok = Jwk::generate_in_pkcs11(&uri("as"), Curve::P256, PublicKeyUse::Signature).unwrap();
    let rs_mem = Jwk::generate(Curve::P256).unwrap();
    let rs_tok = Jwk::generate_in_pkcs11(&uri("rs"), Curve::P256, PublicKeyUse::Encryption).unwrap();
    let grant = Grant::new("alice", "app", "read", &[RS]).unwrap();

    let mut g = c.benchmark_group("pkcs11_mint");
    for (name, as_key) in [("memory", &as_mem), ("token", &as_tok)] {
        let issuer = issuer(as_key, &rs_mem.to_public().unwrap());
        g.bench_function(name, |b| b.iter(|| issuer.mint(&grant, RS).unwrap()));
    }
    g.finish();

    let mut g = c.benchmark_group("pkcs11_open");
    for (name, rs_key) in [("memory", &rs_mem), ("token", &rs_tok)] {
        let token = issuer(&as_mem, &rs_key.to_public().unwrap()).mint(&grant, RS).unwrap().access_token;
        let rs = rs(rs_key, &as_mem);
        assert_eq!(rs.open(&token).unwrap().subject(), "alice");
        g.bench_function(name, |b| b.iter(|| rs.open(&token).unwrap()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
