//! `jwe-mint public`: the public half of a JWK or JWK Set.

use crate::common::{pretty, read_stdin_keys, write_line, CliError};

/// Options of `public`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JWK Set even for a single key (always done when the input is a set)
    #[arg(long)]
    jwks: bool,
}

/// Runs `public`: reads a private JWK or JWK Set on stdin and prints its public form. Symmetric
/// keys have none (exit 1).
pub fn run(args: Args) -> Result<(), CliError> {
    let (set, input_was_set) = read_stdin_keys()?;
    let public = set.to_public()?;
    let value = match public.keys() {
        [key] if !args.jwks && !input_was_set => key.to_value()?,
        _ => public.to_value()?,
    };
    write_line(&pretty(&value)?)
}
