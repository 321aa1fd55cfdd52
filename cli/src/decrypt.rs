//! `jwe-mint decrypt`: open a JWE with private keys.

use std::path::PathBuf;

use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Km};
use jwe_mint::jwe::{self, DecryptPolicy, DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_PBES2_MAX_ITERATIONS};
use jwe_mint::jwk::JwkSet;
use jwe_mint::{Error, LimitExceeded};

use crate::common::{
    parse_enc, parse_km_alg, parse_max_token_size, read_key_file, read_stdin_token, usage, write_stdout,
    CliError,
};

/// Options of `decrypt`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Private key file (JWK or JWK Set; for PBES2 an oct JWK whose `k` is the password); repeat
    /// to try several
    #[arg(long, value_name = "FILE", required = true)]
    key: Vec<PathBuf>,
    /// Accept only these key management algorithms (repeatable) [default: all but RSA1_5 and PBES2]
    #[arg(long, value_name = "ALG", value_parser = parse_km_alg)]
    allow_alg: Vec<Km>,
    /// Accept only these content encryption algorithms (repeatable) [default: all]
    #[arg(long, value_name = "ENC", value_parser = parse_enc)]
    allow_enc: Vec<Enc>,
    /// Also accept legacy RSA1_5 key transport (Bleichenbacher-prone)
    #[arg(long = "allow-legacy-rsa1_5")]
    allow_legacy_rsa1_5: bool,
    /// Also accept PBES2 password-based tokens (p2c up to 10000)
    #[arg(long)]
    allow_pbes2: bool,
    /// Accept zip=DEF compressed content (decompressed size up to 256 KiB)
    #[arg(long)]
    allow_zip: bool,
    /// Refuse tokens longer than N bytes [default: 65536]
    #[arg(long, value_name = "N", value_parser = parse_max_token_size)]
    max_token_size: Option<usize>,
}

/// Runs `decrypt`: the JWE (compact or JSON) is stdin; the plaintext bytes go to stdout as they are.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let policy = policy(&args)?;
    let mut keys = JwkSet::default();
    for path in &args.key {
        for key in read_key_file(path, "--key")?.iter() {
            keys.push(key.clone());
        }
    }
    let token = read_stdin_token(policy.max_token_size())?;
    let opened = jwe::decrypt(&token, &keys, &policy).map_err(|e| match e {
        // The library's text suggests an opt-in; for this command the bound is a fixed limit on
        // the work one token can cause.
        Error::Limit(LimitExceeded::TooManyRecipients { found, max }) => {
            CliError::Failed(format!("limit exceeded: {found} recipients, decrypt tries at most {max}"))
        }
        other => other.into(),
    })?;
    write_stdout(&opened.plaintext)
}

/// The decryption policy the options ask for. Opt-ins are applied first so that `--allow-alg`
/// still restricts them.
fn policy(args: &Args) -> Result<DecryptPolicy, CliError> {
    let mut policy = DecryptPolicy::default();
    if let Some(max) = args.max_token_size {
        policy = policy.with_max_token_size(max);
    }
    if args.allow_legacy_rsa1_5 {
        policy = policy.dangerous_allow_rsa1_5();
    }
    if args.allow_pbes2 {
        policy = policy.allow_pbes2(DEFAULT_PBES2_MAX_ITERATIONS);
    }
    if args.allow_zip {
        policy = policy.allow_zip(DEFAULT_MAX_DECOMPRESSED_SIZE);
    }
    if !args.allow_alg.is_empty() {
        for alg in &args.allow_alg {
            if *alg == Km::Rsa1_5 && !args.allow_legacy_rsa1_5 {
                return Err(usage("--allow-alg RSA1_5 also needs --allow-legacy-rsa1_5"));
            }
            if alg.is_pbes2() && !args.allow_pbes2 {
                return Err(usage(format!("--allow-alg {alg} also needs --allow-pbes2")));
            }
        }
        policy = policy.only_algs(&args.allow_alg);
    }
    if !args.allow_enc.is_empty() {
        policy = policy.only_encs(&args.allow_enc);
    }
    Ok(policy)
}
