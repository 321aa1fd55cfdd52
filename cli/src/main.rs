//! The `jwe-mint` command-line tool: the top layer, using only the library's public API (ARCHITECTURE.md, "Packages").
//!
//! One module per subcommand; each exposes `run(args) -> Result<(), CliError>`.
//! To add a subcommand (`mint`, `open`, `demo`, …): a module here with `Args` and `run`, a variant of
//! [`Command`] (its doc comment is the help line) and one arm in [`dispatch`].
//!
//! The contract scripts rely on (`tests/cli/commands.rs` and `tests/cli/tokens.rs` drive it):
//! - Exit codes: 0 success; 1 rejected input or failed crypto (one line on stderr, no panic);
//!   2 usage error.
//! - An error about a file names the option and the file (`--key FILE: …`).
//! - A key-set member jwe-mint cannot use (RFC 7517 §5) is skipped with one `jwe-mint: warning:`
//!   line on stderr naming the file and the key; a set with nothing left is exit 1.
//! - A result that cannot be written to stdout (closed or full) is exit 1: a key or token not
//!   delivered is lost. What is not a result (the gateway's banner, the demo's story) is written
//!   when stdout takes it: a server runs with its stdout discarded, however `/dev/null` was opened.
//! - `keygen --out FILE` never overwrites: an existing FILE (or symlink) is exit 1 and left
//!   untouched unless `--force`; the file is created 0600 without following symlinks.
//! - `inspect` parses as strictly as `decrypt` (duplicate members are an error).
//! - A refused `mint` prints one stderr line starting with the code a token endpoint would answer:
//!   the OAuth error code (`invalid_target: …`), or `server_error: …` when an RS's published keys
//!   cannot be fetched or none is usable.

mod common;
mod decrypt;
mod demo;
#[cfg(feature = "network")]
mod demo_http;
mod encrypt;
mod fetch;
mod forward_auth;
mod gateway;
mod inspect;
mod keygen;
mod logging;
mod metadata;
mod mint;
mod open;
mod public;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use common::CliError;

/// Encrypted, per-audience OAuth access tokens (JWE) from the command line.
///
/// Key files are RFC 7517 JWK or JWK Set JSON. `jwe-mint demo` shows the whole flow: the AS
/// mints one token per resource server, each RS opens its own and rejects the others'.
#[derive(Debug, Parser)]
#[command(name = "jwe-mint", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a private JWK for an algorithm
    Keygen(keygen::Args),
    /// Print the public JWK (or JWK Set) of private keys read on stdin
    Public(public::Args),
    /// Encrypt stdin to one or more public keys; print the JWE
    Encrypt(encrypt::Args),
    /// Decrypt a JWE read on stdin; write the plaintext bytes
    Decrypt(decrypt::Args),
    /// Show the headers of a JWE (or compact JWS) on stdin; no key needed, nothing decrypted
    Inspect(inspect::Args),
    /// Act as the authorization server: mint encrypted access tokens (one per resource) and print
    /// the token response JSON
    Mint(mint::Args),
    /// Act as a resource server: open an access token read on stdin and print its validated claims
    Open(open::Args),
    /// Print a resource server's RFC 9728 protected resource metadata (its keys are served at
    /// --jwks-uri)
    Metadata(metadata::Args),
    /// Reverse proxy in front of a resource server written in any language: only requests with a
    /// valid access token reach it, with the token's identity in X-Auth-* headers
    Gateway(gateway::Args),
    /// Answer a proxy's authorization subrequests (nginx auth_request, Caddy forward_auth,
    /// Traefik ForwardAuth, Envoy ext_authz) with the gateway's rules: 200 with the token's
    /// identity in X-Auth-* headers, or 401/403 with the challenge. Bind it where only the proxy
    /// reaches it: the original request's headers it reads are trusted
    ForwardAuth(forward_auth::Args),
    /// Act as a client: GET a protected URL, finding its authorization server from the resource
    /// server's RFC 9728 metadata on a 401 and getting a token for it; print the body
    Fetch(fetch::Args),
    /// Run the photos/friends scenario in memory with fresh keys (start here); --http runs it
    /// over real HTTP on loopback
    Demo(demo::Args),
}

fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Keygen(args) => keygen::run(args),
        Command::Public(args) => public::run(args),
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Mint(args) => mint::run(args),
        Command::Open(args) => open::run(args),
        Command::Metadata(args) => metadata::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::ForwardAuth(args) => forward_auth::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

fn main() -> ExitCode {
    // Clap prints its own usage errors and exits with 2 (`--help`/`--version`: 0).
    let matches = Cli::command().get_matches();
    let name = matches.subcommand_name().unwrap_or_default().to_owned();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            // Same format and exit code (2) as clap's own usage errors, with the subcommand's usage.
            let mut cmd = Cli::command();
            cmd.build();
            let err = match cmd.find_subcommand_mut(&name) {
                Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, msg),
                None => cmd.error(clap::error::ErrorKind::ArgumentConflict, msg),
            };
            let _ = err.print();
            ExitCode::from(2)
        }
        Err(CliError::Failed(msg)) => {
            // Exactly one line, whatever the message holds.
            let line = msg.replace(['\n', '\r'], " ");
            let _ = writeln!(std::io::stderr().lock(), "jwe-mint: {line}");
            ExitCode::from(1)
        }
        Err(CliError::Refused(msg)) => {
            // The OAuth error code first (`invalid_target: …`), so scripts can map it.
            let line = msg.replace(['\n', '\r'], " ");
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            ExitCode::from(1)
        }
    }
}
