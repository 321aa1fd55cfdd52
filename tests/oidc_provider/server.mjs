// A real authorization server that is not ours, for the interop tests (tests/interop_oidc_provider.rs):
// node-oidc-provider (https://github.com/panva/node-oidc-provider) with the client_credentials
// grant and resource indicators (RFC 8707), issuing RFC 9068 access tokens signed with ES256 and
// encrypted to each resource server's public key (a nested JWT, its `cty` `at+jwt`).
//
// Usage: node server.mjs CONFIG.json
// CONFIG: { "tls_key": PEM, "tls_cert": PEM, "client_id": ..., "client_secret": ...,
//           "resources": { "<resource URI>": { "scope": "...", "alg": "...", "enc": "...", "jwk": public JWK } },
//           "dpop_nonce": true|false (optional) }
// DPoP (RFC 9449) is on, as by default: a token request with a proof gets a token bound to the
// proof's key (`token_type: DPoP`, `cnf.jkt`). With "dpop_nonce" the token endpoint also requires
// its own nonce in proofs (RFC 9449 §8: 400 use_dpop_nonce with a DPoP-Nonce header first).
// Its ES256 signing key is its own, made at start (the RS learns it only from its jwks_uri).
// It listens on 127.0.0.1 on a free port over HTTPS and prints one line: {"issuer": "https://127.0.0.1:PORT"}.
// Its stdin closing stops it, so it never outlives the test that started it.
import { readFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const signingJwk = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'ES256',
  use: 'sig',
};

const server = createServer({ key: config.tls_key, cert: config.tls_cert });
server.listen(0, '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      // The only signing key is ES256 (the default, RS256, has no key here).
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [signingJwk] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => config.dpop_nonce === true,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          const rs = config.resources[resourceIndicator];
          if (!rs) throw new errors.InvalidTarget();
          return {
            scope: rs.scope,
            audience: resourceIndicator,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: {
              sign: { alg: 'ES256' },
              encrypt: {
                alg: rs.alg,
                enc: rs.enc,
                key: createPublicKey({ key: rs.jwk, format: 'jwk' }),
                kid: rs.jwk.kid,
              },
            },
          };
        },
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
