// Shared by the decryption fuzz targets: the keys of the RFC 7520 cookbook (so the seed corpus
// decrypts and the fuzzer starts deep inside the decryptor) and a permissive policy that still
// bounds the work per input.
use std::sync::OnceLock;

use jwe_mint::jwe::DecryptPolicy;
use jwe_mint::jwk::{Jwk, JwkSet};

pub fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        // RFC 7516 / RFC 7520 recipient keys (built by the seed script from test-vectors/).
        let mut set = JwkSet::from_json(include_str!("../keys.json")).unwrap_or_default();
        for curve in [jwe_mint::jwk::Curve::X25519, jwe_mint::jwk::Curve::P256] {
            if let Ok(k) = Jwk::generate(curve) {
                set.push(k);
            }
        }
        set
    })
}

pub fn policy() -> &'static DecryptPolicy {
    static POLICY: OnceLock<DecryptPolicy> = OnceLock::new();
    POLICY.get_or_init(|| DecryptPolicy::default().dangerous_allow_rsa1_5().allow_pbes2(1_000).allow_zip(64 * 1024))
}
