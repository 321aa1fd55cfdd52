//! `jwe-mint keygen`: generate a private JWK for one algorithm.

use std::io::Write;
use std::path::{Path, PathBuf};

use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Km, SigningAlg};
use jwe_mint::jwk::{Curve, Jwk, PublicKeyUse};

use crate::common::{pkcs11_uri, pretty, usage, write_stdout, CliError};

/// Options of `keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// Public key use: enc or sig [default: enc for key management algs, sig for signing algs]
    #[arg(long = "use", value_name = "USE", value_parser = parse_use)]
    key_use: Option<PublicKeyUse>,
    /// Write the key to FILE (created with mode 0600 on Unix) instead of stdout; an existing FILE
    /// (or symlink) is an error and left untouched. A `pkcs11:` URI generates the key pair inside
    /// that PKCS#11 token instead (sensitive, never extractable; the URI's `object`/`id` label it)
    /// and prints the public JWK
    #[arg(long, value_name = "FILE|URI")]
    out: Option<PathBuf>,
    /// With --out: replace an existing FILE (a symlink there is replaced, never followed)
    #[arg(long, requires = "out")]
    force: bool,
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

fn parse_use(s: &str) -> Result<PublicKeyUse, String> {
    match PublicKeyUse::from(s) {
        PublicKeyUse::Other(_) => Err("expected enc or sig".into()),
        u => Ok(u),
    }
}

fn parse_curve(s: &str) -> Result<Curve, String> {
    s.parse().map_err(|_| "expected one of P-256, P-384, P-521, X25519, Ed25519".to_string())
}

/// Runs `keygen`.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let key_use = match (&args.key_use, args.alg) {
        (Some(u), _) => u.clone(),
        (None, AnyAlg::KeyManagement(_)) => PublicKeyUse::Encryption,
        (None, AnyAlg::Signing(_)) => PublicKeyUse::Signature,
    };
    if let Some(uri) = args.out.as_deref().and_then(pkcs11_uri) {
        return generate_in_token(&args, uri, key_use);
    }
    let key = generate(&args)?;
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
        Some(path) => write_private_file(path, text.as_bytes(), args.force),
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
            // A `dir` key is a content encryption key: one of their lengths.
            let mut sizes: Vec<usize> = Enc::ALL.iter().map(|e| e.key_len() * 8).collect();
            sizes.sort_unstable();
            sizes.dedup();
            if !sizes.contains(&bits) {
                let shown: Vec<String> = sizes.iter().map(usize::to_string).collect();
                return Err(usage(format!("--bits {bits}: dir keys are {} bits", shown.join(", "))));
            }
            Jwk::generate_symmetric(bits / 8)?
        }
        AnyAlg::KeyManagement(a) => {
            no_crv()?;
            let Some(len) = a.aes_key_len() else {
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
            let Some(curve) = s.curve() else {
                return Err(usage(format!("keygen does not support {alg}")));
            };
            Jwk::generate(implied_curve(curve)?)?
        }
    };
    Ok(key)
}

/// What a key pair generated in a token is: `Ok(Some(curve))`, `Ok(None)` for RSA (with its bits),
/// or a usage error for algorithms whose keys are not made in a token here (symmetric keys,
/// X25519: SoftHSM2 2.6 and many HSMs cannot derive with it).
fn token_key_type(args: &Args) -> Result<(Option<Curve>, usize), CliError> {
    let alg = args.alg.name();
    if args.kid.is_some() || args.force {
        return Err(usage("--kid and --force do not apply to a key generated in a PKCS#11 token"));
    }
    let rsa_bits = || {
        if args.crv.is_some() {
            return Err(usage(format!("--crv does not apply to {alg}")));
        }
        let bits = args.bits.unwrap_or(2048);
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(usage(format!("--bits {bits}: RSA keys are 2048, 3072 or 4096 bits")));
        }
        Ok((None, bits))
    };
    match args.alg {
        AnyAlg::KeyManagement(a) if a.is_ecdh_es() => match args.crv.unwrap_or(Curve::P256) {
            c @ (Curve::P256 | Curve::P384 | Curve::P521) if args.bits.is_none() => Ok((Some(c), 0)),
            c => Err(usage(format!(
                "{alg} keys in a PKCS#11 token are P-256, P-384 or P-521 (not {c}), without --bits"
            ))),
        },
        AnyAlg::KeyManagement(Km::RsaOaep | Km::RsaOaep256)
        | AnyAlg::Signing(SigningAlg::Ps256 | SigningAlg::Rs256) => rsa_bits(),
        AnyAlg::Signing(s) => match (s.curve(), args.crv, args.bits) {
            (Some(c), None, None) => Ok((Some(c), 0)),
            (Some(c), Some(given), None) if given == c => Ok((Some(c), 0)),
            _ => Err(usage(format!("{alg}: --crv/--bits do not fit"))),
        },
        AnyAlg::KeyManagement(_) => {
            Err(usage(format!("keygen does not generate {alg} keys in a PKCS#11 token")))
        }
    }
}

/// `keygen --out pkcs11:…`: the key pair is generated inside the token and only the public JWK
/// (with `alg` and `use`; `kid` the RFC 7638 thumbprint) is printed.
#[cfg(feature = "pkcs11")]
fn generate_in_token(args: &Args, uri: &str, key_use: PublicKeyUse) -> Result<(), CliError> {
    let (curve, bits) = token_key_type(args)?;
    let fail = |e: jwe_mint::Error| CliError::Failed(format!("--out: {e}"));
    let key = match curve {
        Some(c) => Jwk::generate_in_pkcs11(uri, c, key_use.clone()).map_err(fail)?,
        None => Jwk::generate_rsa_in_pkcs11(uri, bits, key_use.clone()).map_err(fail)?,
    };
    let key = key.with_alg(args.alg.name()).with_use(key_use);
    let mut text = pretty(&key.to_value()?)?;
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Without the `pkcs11` feature, `--out pkcs11:…` is a usage error that says how to get it.
#[cfg(not(feature = "pkcs11"))]
fn generate_in_token(args: &Args, _uri: &str, _key_use: PublicKeyUse) -> Result<(), CliError> {
    token_key_type(args)?;
    Err(usage("--out pkcs11:…: needs jwe-mint built with `--features pkcs11`"))
}

/// Writes a secret to a new file at `path`, readable by the owner only (Unix mode 0600).
///
/// An existing `path` is refused and left untouched: losing an RS's private key loses every
/// token still outstanding for it. The file is created with `O_CREAT | O_EXCL`
/// (`create_new`), which also refuses a symlink, dangling or not, instead of following it.
/// With `force`, the key goes to a new temporary file in the same directory, which is then
/// renamed over `path`: `rename` replaces a symlink itself, never its target, and readers never
/// see a half-written key.
fn write_private_file(path: &Path, data: &[u8], force: bool) -> Result<(), CliError> {
    let shown = path.display();
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot write {shown}: {e}"));
    if !force {
        return create_private(path, data).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::Failed(format!("{shown} already exists; left untouched (--force replaces it)"))
            } else {
                fail(e)
            }
        });
    }
    let Some(name) = path.file_name() else {
        return Err(CliError::Failed(format!("cannot write {shown}: not a file name")));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = new_temp_file(dir, name, data).map_err(fail)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    // Make the rename durable too (best effort: not every platform can sync a directory).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates `dir/.NAME.PID-N.tmp` (a fresh name, `create_new`) holding `data`; returns its path.
fn new_temp_file(dir: &Path, name: &std::ffi::OsStr, data: &[u8]) -> std::io::Result<PathBuf> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut last = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
    for attempt in 0..16u32 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{nanos}-{attempt}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        match create_private(&tmp, data) {
            Ok(()) => return Ok(tmp),
            // Someone else's file (or symlink) by that name: never touch it, pick another name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Creates `path` (which must not exist, not even as a symlink) with mode 0600 and writes `data`;
/// a file left half-written is removed.
fn create_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let written = (|| {
        #[cfg(unix)]
        {
            // Exactly 0600 whatever the umask.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(data)?;
        file.sync_all()
    })();
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}
