// A real OpenID Provider for tether's tests: panva's oidc-provider, set up
// from the environment in one of two modes.
//
//   MODE=plain  issuer at the root, RS256 ID tokens.
//   MODE=logto  configured like Logto, whose OIDC core is this library:
//               issuer under /oidc, EC P-384 keys (ES384 ID tokens),
//               refresh tokens only for offline_access (which needs
//               prompt=consent), Logto's extra authorize parameters and
//               an API resource indicator.
//
// Environment: MODE, PORT (0 or unset: any free port), CLIENT_ID,
// CLIENT_SECRET, REDIRECT_URIS and POST_LOGOUT_REDIRECT_URIS
// (comma-separated), AUTH_METHOD (client_secret_basic, client_secret_post,
// or none: a public client, without a secret).
//
// It listens on 127.0.0.1 and prints one JSON line {"issuer": ...} on
// stdout once it serves requests. GET /__test/last-authorization (outside
// the issuer path) answers the parameters of the last authorization request
// the provider accepted, so tests can see what reached the OP; POST
// /__test/profile/<account> with a JSON object changes that account's
// claims from then on (a profile edited at the provider).
//
// Accounts: any login name is accepted (the password is not checked, as in
// oidc-provider's development interactions) and becomes the subject; alice
// (verified email) and bob (unverified email) have fixed profiles.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const env = process.env;
const logto = env.MODE === 'logto';
if (env.MODE && !['plain', 'logto'].includes(env.MODE)) {
  throw new Error(`MODE must be plain or logto, not ${env.MODE}`);
}
const prefix = logto ? '/oidc' : '';
const apiResource = 'https://api.example.test';

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(env.PORT || 0), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}${prefix}`;

function signingKey(alg) {
  const { privateKey } = logto
    ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}` };
}

const profiles = {
  alice: {
    email: 'alice@example.test', email_verified: true, name: 'Alice Liddell',
    picture: 'https://example.test/alice.png', username: 'alice',
  },
  bob: {
    email: 'bob@example.test', email_verified: false, name: 'Bob Builder',
    picture: null, username: 'bob',
  },
};

const client = {
  client_id: env.CLIENT_ID || 'test-client',
  redirect_uris: (env.REDIRECT_URIS || 'http://rp.test/callback').split(','),
  post_logout_redirect_uris: (env.POST_LOGOUT_REDIRECT_URIS || 'http://rp.test/logged-out').split(','),
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: env.AUTH_METHOD || 'client_secret_basic',
};
if (client.token_endpoint_auth_method !== 'none') {
  client.client_secret = env.CLIENT_SECRET || 'test-secret';
}
const idTokenAlg = logto ? 'ES384' : 'RS256';
client.id_token_signed_response_alg = idTokenAlg;

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys: [signingKey(idTokenAlg)] },
  enabledJWA: { idTokenSigningAlgValues: [idTokenAlg] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture', 'username'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  extraParams: ['first_screen', 'direct_sign_in', 'identifier', 'interaction_mode', 'organization_id'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(profiles[id] ?? { name: id, username: id }) };
      },
    };
  },
  issueRefreshToken(ctx, c, code) {
    return c.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  ttl: logto ? {
    IdToken: 3600, AccessToken: 3600, RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600, Interaction: 3600,
  } : undefined,
  rotateRefreshToken: logto,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: logto ? {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== apiResource) throw new errors.InvalidTarget();
        return {
          scope: 'read:profile', audience: indicator, accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES384' } },
        };
      },
    } : { enabled: false },
  },
});

let lastAuthorization = null;
provider.use(async (ctx, next) => {
  await next();
  const oidc = ctx.oidc;
  if (oidc?.route === 'authorization' && oidc.params && ctx.status < 400) {
    lastAuthorization = Object.fromEntries(
      Object.entries(oidc.params).filter(([, v]) => v !== undefined),
    );
  }
});

const handle = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/__test/last-authorization') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(lastAuthorization ?? {}));
    return;
  }
  const profile = req.method === 'POST' && req.url.match(/^\/__test\/profile\/([A-Za-z0-9_-]+)$/);
  if (profile) {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try {
        profiles[profile[1]] = { ...(profiles[profile[1]] ?? {}), ...JSON.parse(body) };
        res.statusCode = 204;
      } catch {
        res.statusCode = 400;
      }
      res.end();
    });
    return;
  }
  if (prefix) {
    const u = req.url;
    if (u !== prefix && !u.startsWith(`${prefix}/`) && !u.startsWith(`${prefix}?`)) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    req.originalUrl = u;
    req.url = u.slice(prefix.length) || '/';
  }
  handle(req, res);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(JSON.stringify({ issuer }));
