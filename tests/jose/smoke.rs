use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};

#[test]
fn every_alg_enc_round_trips_compact_and_json() {
    let p256 = Jwk::generate(Curve::P256).unwrap();
    let p521 = Jwk::generate(Curve::P521).unwrap();
    let x = Jwk::generate(Curve::X25519).unwrap();
    let rsa = Jwk::generate_rsa(2048).unwrap();
    let policy = DecryptPolicy::default().allow_pbes2(10_000);
    for enc in Enc::ALL {
        for alg in Alg::ALL {
            if *alg == Alg::Rsa1_5 {
                continue;
            }
            let key = match alg {
                Alg::RsaOaep | Alg::RsaOaep256 => rsa.clone(),
                Alg::Dir => Jwk::generate_symmetric(enc.key_len()).unwrap(),
                a if a.is_ecdh_es() => {
                    if enc.key_len() == 16 {
                        x.clone()
                    } else if enc.key_len() == 24 {
                        p521.clone()
                    } else {
                        p256.clone()
                    }
                }
                a if a.is_pbes2() => Jwk::symmetric(b"correct horse battery staple").unwrap(),
                a => Jwk::generate_symmetric(match a {
                    Alg::A128Kw | Alg::A128GcmKw => 16,
                    Alg::A192Kw | Alg::A192GcmKw => 24,
                    _ => 32,
                })
                .unwrap(),
            };
            let public = if key.is_symmetric() { key.clone() } else { key.to_public().unwrap() };
            let e = Encryptor::new(*enc).recipient(&public, *alg);
            let keys = JwkSet::new(vec![key.clone()]);
            for token in [
                e.encrypt_compact(b"payload").unwrap(),
                e.encrypt_flattened(b"payload").unwrap(),
                e.encrypt_general(b"payload").unwrap(),
            ] {
                let out = match jwe::decrypt(&token, &keys, &policy) {
                    Err(jwe_mint::Error::RefusedByProvider { .. })
                        if jwe_mint::crypto::PROVIDER_NAME == "rust-crypto"
                            && matches!(alg, Alg::RsaOaep | Alg::RsaOaep256) =>
                    {
                        continue
                    }
                    other => other.unwrap_or_else(|err| panic!("{alg} {enc}: {err}")),
                };
                assert_eq!(&out.plaintext[..], b"payload", "{alg} {enc}");
            }
        }
    }
}
