// A relying party built on panva's openid-client (a certified RP library),
// driven by testkit/rp over line-delimited JSON so that Go tests can sign
// in through any OpenID Provider with a second, independent client
// implementation. Every check is openid-client's own: this script adds
// none, so a test that passes here passes for the library, not for us.
//
// One setting is not the library's default: enableNonRepudiationChecks.
// By default openid-client trusts an ID token that comes straight from
// the token endpoint without checking its signature (OpenID Connect Core
// §3.1.3.7 allows it over TLS); tests of an OP must see its signatures
// checked, by JWKS, as most RPs do.
//
// Environment: RP_CONFIG, a JSON object
//   {issuer, client_id, client_secret?, auth_method?, redirect_uri,
//    scopes?, clock_tolerance?}
// auth_method is client_secret_basic, client_secret_post or none; when
// empty: none without a secret, else client_secret_basic unless discovery
// lists only client_secret_post.
//
// Protocol: one JSON request per line on stdin, {"id", "op", ...}, and one
// JSON answer per line on stdout, {"id", "result"} or
// {"id", "error": {name, code, message, error?, error_description?,
// status?, cause?}}. Requests are handled one at a time, in order.
// Nothing else is written to stdout; diagnostics go to stderr.
//
//   discover                          → server metadata
//   authorize  {params}               → {url, state, nonce, code_verifier,
//                                        redirect_uri, scope, max_age}
//   callback   {url, state, nonce, code_verifier, max_age, scope}
//                                     → {tokens, claims}
//   userinfo   {access_token, sub}    → claims (sub must equal `sub`)
//   refresh    {refresh_token}        → {tokens, claims}
//   revoke     {token, hint}          → {}
//   introspect {token, hint}          → the introspection response
//   logout_url {params: [[name, value], ...]} → {url}
//
// authorize's params map names to lists of values. A name with a value
// is added or replaces the default; a name with an empty list removes the
// default (state, nonce, code_challenge, scope, ...), so tests can send
// requests the OP must refuse.

import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const cfg = JSON.parse(process.env.RP_CONFIG ?? '{}');
for (const k of ['issuer', 'client_id', 'redirect_uri']) {
  if (!cfg[k]) throw new Error(`RP_CONFIG.${k} is required`);
}

// http is allowed only on loopback: the OPs of the tests listen there.
function loopback(u) {
  return u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname));
}

function clientAuth(meta) {
  let method = cfg.auth_method;
  if (!method) {
    const supported = meta.token_endpoint_auth_methods_supported;
    if (!cfg.client_secret) method = 'none';
    else if (supported && !supported.includes('client_secret_basic') && supported.includes('client_secret_post')) method = 'client_secret_post';
    else method = 'client_secret_basic';
  }
  switch (method) {
    case 'none': return client.None();
    case 'client_secret_basic': return client.ClientSecretBasic(cfg.client_secret);
    case 'client_secret_post': return client.ClientSecretPost(cfg.client_secret);
    default: throw new Error(`unsupported auth_method ${method}`);
  }
}

let config;
async function configuration() {
  if (config) return config;
  const issuer = new URL(cfg.issuer);
  const insecure = loopback(issuer);
  const options = insecure ? { execute: [client.allowInsecureRequests] } : undefined;
  // Discover once without client authentication to learn the methods the
  // OP supports, then build the real configuration from the same metadata.
  const discovered = await client.discovery(issuer, cfg.client_id, undefined, client.None(), options);
  const meta = discovered.serverMetadata();
  const metadata = { [client.clockTolerance]: cfg.clock_tolerance ?? 30 };
  if (cfg.client_secret) metadata.client_secret = cfg.client_secret;
  const c = new client.Configuration(meta, cfg.client_id, metadata, clientAuth(meta));
  if (insecure) client.allowInsecureRequests(c);
  client.enableNonRepudiationChecks(c);
  config = c;
  return c;
}

function scopes() {
  return (cfg.scopes?.length ? cfg.scopes : ['openid']).join(' ');
}

// claimsOf returns the ID token claims openid-client validated, if any.
function claimsOf(tokens) {
  return tokens.id_token ? tokens.claims() : null;
}

const ops = {
  async discover() {
    return (await configuration()).serverMetadata();
  },

  async authorize({ params }) {
    const c = await configuration();
    const out = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      code_verifier: client.randomPKCECodeVerifier(),
      redirect_uri: cfg.redirect_uri,
    };
    const q = new URLSearchParams({
      redirect_uri: cfg.redirect_uri,
      scope: scopes(),
      state: out.state,
      nonce: out.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(out.code_verifier),
      code_challenge_method: 'S256',
    });
    for (const [k, vs] of Object.entries(params ?? {})) {
      q.delete(k);
      for (const v of vs ?? []) q.append(k, v);
    }
    // What was really sent decides what the callback expects.
    out.state = q.get('state') ?? '';
    out.nonce = q.get('nonce') ?? '';
    if (!q.has('code_challenge')) out.code_verifier = '';
    out.redirect_uri = q.get('redirect_uri') ?? '';
    out.scope = q.get('scope') ?? '';
    out.max_age = q.has('max_age') ? Number(q.get('max_age')) : null;
    out.url = client.buildAuthorizationUrl(c, q).href;
    return out;
  },

  async callback({ url, state, nonce, code_verifier, max_age, scope }) {
    const c = await configuration();
    const checks = { idTokenExpected: (scope ?? scopes()).split(' ').includes('openid') };
    checks.expectedState = state ? state : undefined;
    if (nonce) checks.expectedNonce = nonce;
    if (code_verifier) checks.pkceCodeVerifier = code_verifier;
    if (max_age !== null && max_age !== undefined) checks.maxAge = max_age;
    const tokens = await client.authorizationCodeGrant(c, new URL(url), checks);
    return { tokens: { ...tokens }, claims: claimsOf(tokens) };
  },

  async userinfo({ access_token, sub }) {
    const c = await configuration();
    return client.fetchUserInfo(c, access_token, sub || client.skipSubjectCheck);
  },

  async refresh({ refresh_token }) {
    const c = await configuration();
    const tokens = await client.refreshTokenGrant(c, refresh_token);
    return { tokens: { ...tokens }, claims: claimsOf(tokens) };
  },

  async revoke({ token, hint }) {
    const c = await configuration();
    await client.tokenRevocation(c, token, hint ? { token_type_hint: hint } : undefined);
    return {};
  },

  async introspect({ token, hint }) {
    const c = await configuration();
    return { ...(await client.tokenIntrospection(c, token, hint ? { token_type_hint: hint } : undefined)) };
  },

  async logout_url({ params }) {
    const c = await configuration();
    return { url: client.buildEndSessionUrl(c, new URLSearchParams(params ?? [])).href };
  },
};

// plain turns an error's cause (a Response, URLSearchParams, challenges,
// a JSON body...) into something JSON can carry.
function plain(v, depth = 0) {
  if (v === null || v === undefined || depth > 4) return v ?? null;
  if (typeof v !== 'object') return v;
  if (v instanceof URLSearchParams) return Object.fromEntries(v);
  if (typeof Response !== 'undefined' && v instanceof Response) return { status: v.status, url: v.url };
  if (v instanceof Error) return describe(v, depth + 1);
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'function') out[k] = plain(x, depth + 1);
  }
  return out;
}

function describe(e, depth = 0) {
  const out = { name: e?.name ?? 'Error', message: e?.message ?? String(e) };
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (e?.[k] !== undefined) out[k] = e[k];
  }
  if (e?.cause !== undefined) out.cause = plain(e.cause, depth);
  // A refused bearer token (userinfo) carries its error in the
  // WWW-Authenticate challenge, not in a body.
  if (out.error === undefined && Array.isArray(e?.cause) && e.cause[0]?.parameters?.error) {
    out.error = e.cause[0].parameters.error;
    out.error_description ??= e.cause[0].parameters.error_description;
  }
  return out;
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  let answer;
  try {
    req = JSON.parse(line);
    const op = ops[req.op];
    if (!op) throw new Error(`unknown op ${JSON.stringify(req.op)}`);
    answer = { id: req.id, result: await op(req) };
  } catch (e) {
    answer = { id: req?.id, error: describe(e) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
