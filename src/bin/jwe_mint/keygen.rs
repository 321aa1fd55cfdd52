//! `jwe-mint keygen`: generate a private JWK for one algorithm.

use std::io::Write;
use std::path::{Path, PathBuf};

use jwe_mint::jwa::{KeyManagementAlg as Km, SigningAlg};
use jwe_mint::jwk::{Curve, Jwk};

use crate::common::{pretty, usage, write_stdout, CliError};

/// Options of `keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Algorithm the key is for: key management (ECDH-ES+A256KW, RSA-OAEP-256, A256KW, A256GCMKW,
    /// dir, …) or signing (ES256, ES384, ES512, EdDSA, PS256, RS256)
    #[arg(long, value_name = "ALG", value_parser = parse_any_alg)]
    alg: AnyAlg,
    /// Curve for ECDH-ES*: P-256 (default), P-384, P-521, X25519 [ES*/EdDSA imply theirs]
    #[arg(long, value_name = "CRV", value_parser = parse_curve)]
    crv: Option<Curve>,
    /// Key size in bits: RSA 2048 (default), 3072, 4096; dir 256 (default), 128, 192, 384, 512
    #[arg(long, value_name = "N")]
    bits: Option<usize>,
    /// Key ID [default: the RFC 7638 thumbprint]
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// Public key use [default: enc for key management algs, sig for signing algs]
    #[arg(long = "use", value_name = "USE", value_enum)]
    key_use: Option<KeyUse>,
    /// Write the key to FILE (mode 0600 on Unix) instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// A `use` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyUse {
    Enc,
    Sig,
}

/// Any algorithm a key can be generated for.
#[derive(Debug, Clone, Copy)]
enum AnyAlg {
    KeyManagement(Km),
    Signing(SigningAlg),
}

impl AnyAlg {
    fn name(self) -> &'static str {
        match self {
            AnyAlg::KeyManagement(a) => a.name(),
            AnyAlg::Signing(a) => a.name(),
        }
    }
}

fn parse_any_alg(s: &str) -> Result<AnyAlg, String> {
    if let Ok(a) = s.parse::<Km>() {
        return Ok(AnyAlg::KeyManagement(a));
    }
    if let Ok(a) = s.parse::<SigningAlg>() {
        return Ok(AnyAlg::Signing(a));
    }
    Err("not a key management or signing algorithm jwe-mint implements".into())
}

fn parse_curve(s: &str) -> Result<Curve, String> {
    s.parse().map_err(|_| "expected one of P-256, P-384, P-521, X25519, Ed25519".to_string())
}

/// Runs `keygen`.
pub fn run(args: Args) -> Result<(), CliError> {
    let key = generate(&args)?;
    let key_use = match (args.key_use, args.alg) {
        (Some(KeyUse::Enc), _) | (None, AnyAlg::KeyManagement(_)) => "enc",
        (Some(KeyUse::Sig), _) | (None, AnyAlg::Signing(_)) => "sig",
    };
    let mut key = key.with_alg(args.alg.name()).with_use(key_use);
    if let Some(kid) = &args.kid {
        if kid.is_empty() {
            return Err(usage("--kid must not be empty"));
        }
        key = key.with_kid(kid.clone());
    }
    let mut text = pretty(&key.to_private_value())?;
    text.push('\n');
    match &args.out {
        Some(path) => write_private_file(path, text.as_bytes()),
        None => write_stdout(text.as_bytes()),
    }
}

/// Generates the key material `args` ask for, refusing inconsistent options with a usage error.
fn generate(args: &Args) -> Result<Jwk, CliError> {
    let alg = args.alg.name();
    let no_crv = || match args.crv {
        Some(c) => Err(usage(format!("--crv {c} does not apply to {alg}"))),
        None => Ok(()),
    };
    let no_bits = || match args.bits {
        Some(b) => Err(usage(format!("--bits {b} does not apply to {alg}"))),
        None => Ok(()),
    };
    let implied_curve = |curve: Curve| match args.crv {
        Some(c) if c != curve => Err(usage(format!("{alg} needs --crv {curve}, not {c}"))),
        _ => Ok(curve),
    };
    let key = match args.alg {
        AnyAlg::KeyManagement(a) if a.is_pbes2() => {
            return Err(usage(format!(
            "{alg} uses a password, which keygen does not generate; use an oct JWK whose `k` is the password"
        )))
        }
        AnyAlg::KeyManagement(a) if a.is_ecdh_es() => {
            no_bits()?;
            let curve = args.crv.unwrap_or(Curve::P256);
            if !matches!(curve, Curve::P256 | Curve::P384 | Curve::P521 | Curve::X25519) {
                return Err(usage(format!(
                    "--crv {curve} does not apply to {alg} (P-256, P-384, P-521, X25519)"
                )));
            }
            Jwk::generate(curve)?
        }
        AnyAlg::KeyManagement(Km::Rsa1_5 | Km::RsaOaep | Km::RsaOaep256)
        | AnyAlg::Signing(SigningAlg::Ps256 | SigningAlg::Rs256) => {
            no_crv()?;
            let bits = args.bits.unwrap_or(2048);
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(usage(format!("--bits {bits}: RSA keys are 2048, 3072 or 4096 bits")));
            }
            Jwk::generate_rsa(bits)?
        }
        AnyAlg::KeyManagement(Km::Dir) => {
            no_crv()?;
            let bits = args.bits.unwrap_or(256);
            if !matches!(bits, 128 | 192 | 256 | 384 | 512) {
                return Err(usage(format!("--bits {bits}: dir keys are 128, 192, 256, 384 or 512 bits")));
            }
            Jwk::generate_symmetric(bits / 8)?
        }
        AnyAlg::KeyManagement(a) => {
            no_crv()?;
            let Some(len) = aes_key_len(a) else {
                return Err(usage(format!("keygen does not support {alg}")));
            };
            if let Some(bits) = args.bits {
                if bits != len * 8 {
                    return Err(usage(format!("{alg} keys are {} bits, not {bits}", len * 8)));
                }
            }
            Jwk::generate_symmetric(len)?
        }
        AnyAlg::Signing(s) => {
            no_bits()?;
            let curve = match s {
                SigningAlg::Es256 => Curve::P256,
                SigningAlg::Es384 => Curve::P384,
                SigningAlg::Es512 => Curve::P521,
                SigningAlg::EdDsa => Curve::Ed25519,
                _ => return Err(usage(format!("keygen does not support {alg}"))),
            };
            Jwk::generate(implied_curve(curve)?)?
        }
    };
    Ok(key)
}

/// Key length in bytes of the AES key-wrap algorithms.
fn aes_key_len(alg: Km) -> Option<usize> {
    match alg {
        Km::A128Kw | Km::A128GcmKw => Some(16),
        Km::A192Kw | Km::A192GcmKw => Some(24),
        Km::A256Kw | Km::A256GcmKw => Some(32),
        _ => None,
    }
}

/// Writes a secret to `path`, readable by the owner only (Unix mode 0600, also when the file
/// already existed with wider permissions).
fn write_private_file(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    file.write_all(data).and_then(|()| file.sync_all()).map_err(fail)
}
