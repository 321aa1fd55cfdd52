//! `jwe-mint forward-auth`: the gateway's rules as an authorization service for a proxy that
//! forwards by itself (nginx `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth, Envoy
//! HTTP `ext_authz`): `jwe_mint::wire::Gateway::forward_auth`.

use crate::common::CliError;
use crate::gateway::ServeArgs;
#[cfg(feature = "network")]
use {
    crate::common::usage,
    jwe_mint::wire::{Gateway, OriginalRequest},
};

/// Options of `forward-auth`.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Also answer X-Auth-Claims (base64url of the claims JSON); off by default: behind nginx's
    /// default buffers a large header turns the answer into a 500
    #[arg(long)]
    claims_header: bool,
    /// The prefix before the original path when the proxy names the original request by the
    /// subrequest's own method and path (Envoy ext_authz's path_prefix)
    #[arg(long, value_name = "PATH")]
    path_prefix: Option<String>,
    /// Where the original request is read: x-original (nginx: X-Original-Method/-URI),
    /// x-forwarded (Traefik, Caddy: X-Forwarded-Method/-Uri), path (Envoy: the subrequest's own
    /// method and path), or auto (the first present; both header families at once is refused).
    /// Name your proxy's: the source read is trusted
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "auto")]
    original_request: Source,
    #[command(flatten)]
    serve: ServeArgs,
}

/// `--original-request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Source {
    Auto,
    XOriginal,
    XForwarded,
    Path,
}

/// Without the network feature the command says how to get it.
#[cfg(not(feature = "network"))]
pub(crate) fn run(_args: Args) -> Result<(), CliError> {
    Err(crate::common::needs_network("forward-auth"))
}

/// Answers authorization subrequests until SIGTERM or SIGINT.
#[cfg(feature = "network")]
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    crate::gateway::serve(&args.serve, "forward-auth", |rs| {
        let gateway = Gateway::forward_auth(rs).map_err(|e| usage(format!("--resource: {e}")))?;
        let source = match args.original_request {
            Source::Auto => OriginalRequest::Auto,
            Source::XOriginal => OriginalRequest::XOriginal,
            Source::XForwarded => OriginalRequest::XForwarded,
            Source::Path => OriginalRequest::Path,
        };
        let gateway =
            gateway.original_request(source).map_err(|e| usage(format!("--original-request: {e}")))?;
        let mut gateway = gateway.claims_header(args.claims_header);
        if let Some(prefix) = &args.path_prefix {
            gateway = gateway.path_prefix(prefix).map_err(|e| usage(format!("--path-prefix: {e}")))?;
        }
        Ok(gateway)
    })
}
