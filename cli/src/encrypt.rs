//! `jwe-mint encrypt`: encrypt stdin to one or more keys.

use std::path::{Path, PathBuf};

use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Km};
use jwe_mint::jwe::{Encryptor, DEFAULT_MAX_TOKEN_SIZE};
use jwe_mint::jwk::{Jwk, PublicKeyUse};
use jwe_mint::Error;

use crate::common::{
    about_file, parse_enc, parse_km_alg, read_key_file, read_stdin, usage, warn, write_line, CliError,
};

/// Options of `encrypt`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Recipient key file (JWK or JWK Set: its first key with use enc or no use); repeat for
    /// several recipients (needs --json)
    #[arg(long, value_name = "FILE", required = true)]
    key: Vec<PathBuf>,
    /// Key management algorithm [default: the key's alg, else ECDH-ES+A256KW for EC/X25519,
    /// RSA-OAEP-256 for RSA, A128KW/A192KW/A256KW for oct by size]
    #[arg(long, value_name = "ALG", value_parser = parse_km_alg)]
    alg: Option<Km>,
    /// Content encryption algorithm [default: A256GCM; for a dir key, the one its size fits]
    #[arg(long, value_name = "ENC", value_parser = parse_enc)]
    enc: Option<Enc>,
    /// General JSON serialization (any number of recipients)
    #[arg(long, conflicts_with = "flattened")]
    json: bool,
    /// Flattened JSON serialization (one recipient)
    #[arg(long)]
    flattened: bool,
    /// Compress the plaintext with DEFLATE (zip=DEF) first; only for data you fully control
    #[arg(long)]
    zip: bool,
}

/// Runs `encrypt`: plaintext is stdin, byte-exact; the JWE goes to stdout with a newline.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    if args.key.len() > 1 && !args.json {
        return Err(usage("several --key need --json (compact and flattened JWEs have one recipient)"));
    }
    let mut recipients = Vec::with_capacity(args.key.len());
    for path in &args.key {
        let key = recipient_key(path)?;
        let alg = match args.alg {
            Some(a) => a,
            None => Km::default_for(&key)
                .map_err(|e| match e {
                    // Any oct key can serve some algorithm: say how to pick one.
                    Error::NoMatchingKey(m) if key.is_symmetric() => {
                        Error::NoMatchingKey(format!("{m}; pass --alg"))
                    }
                    other => other,
                })
                .map_err(about_file("--key", path))?,
        };
        recipients.push((key, alg));
    }
    let enc = match (args.enc, recipients.as_slice()) {
        (Some(e), _) => e,
        (None, [(key, Km::Dir)]) => Enc::for_dir_key(key).unwrap_or(Enc::A256Gcm),
        _ => Enc::A256Gcm,
    };
    let mut encryptor = Encryptor::new(enc);
    for (key, alg) in &recipients {
        encryptor = encryptor.recipient(key, *alg);
    }
    if args.zip {
        encryptor = encryptor.compress_deflate();
    }
    let plaintext = zeroize::Zeroizing::new(read_stdin(None)?);
    let token = if args.json {
        encryptor.encrypt_general(&plaintext)?
    } else if args.flattened {
        encryptor.encrypt_flattened(&plaintext)?
    } else {
        encryptor.encrypt_compact(&plaintext)?
    };
    write_line(&token)?;
    if token.len() > DEFAULT_MAX_TOKEN_SIZE {
        // Written anyway (other receivers may allow more), but say so before someone wonders
        // why it does not open.
        warn(&format!(
            "the JWE is {} bytes, more than the {DEFAULT_MAX_TOKEN_SIZE} bytes `decrypt` and `open` \
             accept by default (see their --max-token-size)",
            token.len()
        ));
    }
    Ok(())
}

/// The first key of the file meant for encryption, as a public key when it is asymmetric.
fn recipient_key(path: &Path) -> Result<Jwk, CliError> {
    let set = read_key_file(path, "--key")?;
    let key =
        set.iter().find(|k| k.key_use().is_none_or(|u| *u == PublicKeyUse::Encryption)).ok_or_else(|| {
            about_file("--key", path)(Error::NoMatchingKey("holds no key with use enc (or no use)".into()))
        })?;
    if key.is_symmetric() {
        Ok(key.clone())
    } else {
        key.to_public().map_err(about_file("--key", path))
    }
}
