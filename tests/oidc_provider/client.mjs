// A real OAuth client that is not ours, for the interop tests (cli/tests/interop/dpop.rs):
// oauth4webapi (https://github.com/panva/oauth4webapi) getting a DPoP-bound token (RFC 9449) with
// the client_credentials grant and a resource indicator (RFC 8707), then calling a protected
// resource with its own proofs. It follows a server's nonce once at each end, as its docs show
// (RFC 9449 §8 at the token endpoint, §9 at the resource server).
//
// Usage: node client.mjs CONFIG.json   (trusting the test's CA through NODE_EXTRA_CA_CERTS)
// CONFIG: { "issuer": URL, "discovery": "oidc" | "oauth2", "client_id": ..., "client_secret": ...,
//           "resource": URI, "scope": "...", "url": the protected resource to GET }
// It prints one JSON line and exits 0:
//   { "token_type", "access_token", "jwk": the proof key's public JWK, "as_nonce_retries",
//     "rs_nonce_retries", "status", "body", "bearer": { "status", "challenges" } }
// where "bearer" is the same token sent as a plain Bearer token without a proof. On any other
// failure it prints { "error": ... } and exits 1.
import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// Every request is bounded: a hung server fails the test instead of stalling it.
const bounded = () => ({ signal: AbortSignal.timeout(10_000) });

async function main() {
  const issuer = new URL(config.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: config.discovery, ...bounded() }),
  );
  const client = { client_id: config.client_id };
  const clientAuth = oauth.ClientSecretBasic(config.client_secret);
  const keyPair = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(client, keyPair);
  const out = { as_nonce_retries: 0, rs_nonce_retries: 0 };

  const parameters = new URLSearchParams({ resource: config.resource, scope: config.scope });
  let tokens;
  for (;;) {
    const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, parameters, {
      DPoP,
      ...bounded(),
    });
    try {
      tokens = await oauth.processClientCredentialsResponse(as, client, response);
      break;
    } catch (err) {
      if (oauth.isDPoPNonceError(err) && out.as_nonce_retries === 0) {
        out.as_nonce_retries += 1;
        continue;
      }
      throw err;
    }
  }
  out.token_type = tokens.token_type;
  out.access_token = tokens.access_token;
  out.jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);

  const url = new URL(config.url);
  // The gateway under test listens on plain HTTP on loopback.
  const insecure = { [oauth.allowInsecureRequests]: url.protocol === 'http:' };
  for (;;) {
    try {
      const response = await oauth.protectedResourceRequest(tokens.access_token, 'GET', url, new Headers(), null, {
        DPoP,
        ...insecure,
        ...bounded(),
      });
      out.status = response.status;
      out.body = await response.text();
      break;
    } catch (err) {
      if (oauth.isDPoPNonceError(err) && out.rs_nonce_retries === 0) {
        out.rs_nonce_retries += 1;
        continue;
      }
      throw err;
    }
  }

  // The same token without its proof, as a Bearer token: a thief's replay.
  try {
    const response = await oauth.protectedResourceRequest(tokens.access_token, 'GET', url, new Headers(), null, {
      ...insecure,
      ...bounded(),
    });
    out.bearer = { status: response.status, challenges: [] };
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    out.bearer = {
      status: err.status,
      challenges: err.cause.map((c) => ({ scheme: c.scheme, error: c.parameters.error ?? null })),
    };
  }
  return out;
}

main().then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
  (err) => {
    const cause = err?.cause === undefined ? undefined : JSON.stringify(err.cause);
    process.stdout.write(`${JSON.stringify({ error: `${err?.name}: ${err?.message}`, cause })}\n`);
    process.exit(1);
  },
);
