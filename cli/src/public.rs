//! `jwe-mint public`: the public half of a JWK or JWK Set.

use std::path::PathBuf;

use crate::common::{pretty, read_keys, read_stdin_keys, write_line, CliError};

/// Options of `public`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print a JWK Set even for a single key (always done when the input is a set)
    #[arg(long)]
    jwks: bool,
    /// Read the key from FILE, or from a PKCS#11 token with a `pkcs11:` URI (the public key is
    /// read from the token; the private key never leaves it), instead of stdin
    #[arg(long, value_name = "FILE|URI")]
    key: Option<PathBuf>,
}

/// Runs `public`: reads a private JWK or JWK Set on stdin (or `--key`) and prints its public form.
/// Symmetric keys have none (exit 1).
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let (set, input_was_set) = match &args.key {
        Some(path) => read_keys(path, "--key")?,
        None => read_stdin_keys()?,
    };
    let public = set.to_public()?;
    let value = match public.keys() {
        [key] if !args.jwks && !input_was_set => key.to_value()?,
        _ => public.to_value()?,
    };
    write_line(&pretty(&value)?)
}
