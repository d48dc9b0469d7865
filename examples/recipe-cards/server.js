// Recipe cards: a small service beside Smilecook that trusts Smilecook's access tokens
// without sharing a secret with it.
//
//   GET  /cards/:id        verifies the token locally with the JWKS (jose's remote key set):
//                          fast, no call to Smilecook per request; a logout is seen only
//                          when the token expires (ACCESS_TOKEN_TTL, 15 minutes by default).
//   POST /cards/:id/print  asks Smilecook's introspection endpoint (RFC 7662) first: a
//                          logout or a revoked session is refused at once.
//
// A token bound to the caller's key (DPoP, RFC 9449: `cnf.jkt` in the token or in the
// introspection answer) is accepted only as `Authorization: DPoP <token>` with a `DPoP` proof
// for this request, signed by that key, used once; a bound token sent as Bearer is refused.
//
// Both then read the (published) recipe from Smilecook's public GraphQL API: the service
// decides who may have a card, Smilecook what is public. Everything it needs comes from
// Smilecook's metadata (RFC 8414): SMILECOOK_URL is the only address it is given.
//
// Environment: SMILECOOK_URL (e.g. http://127.0.0.1:8000), PORT (0 picks one),
// INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET (from `smilecook clients add`),
// JWKS_CACHE_MS (how long the key set is trusted, default 10 minutes, jose's default) and
// JWKS_COOLDOWN_MS (the least time between two fetches, default 30 s).

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { EmbeddedJWK, calculateJwkThumbprint, createRemoteJWKSet, errors, jwtVerify } from 'jose';

const AUDIENCE = process.env.SMILECOOK_AUDIENCE ?? 'smilecook-api';

async function discover(base) {
  const response = await fetch(new URL('/.well-known/oauth-authorization-server', base));
  if (!response.ok) throw new Error(`no metadata at ${base}: ${response.status}`);
  return response.json();
}

export async function start({
  smilecookUrl = process.env.SMILECOOK_URL,
  port = Number(process.env.PORT ?? 0),
  clientId = process.env.INTROSPECTION_CLIENT_ID,
  clientSecret = process.env.INTROSPECTION_CLIENT_SECRET,
  jwksCacheMs = Number(process.env.JWKS_CACHE_MS ?? 600_000),
  jwksCooldownMs = Number(process.env.JWKS_COOLDOWN_MS ?? 30_000),
} = {}) {
  const metadata = await discover(smilecookUrl);
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), {
    cacheMaxAge: jwksCacheMs,
    cooldownDuration: jwksCooldownMs,
  });
  const graphqlUrl = new URL('/graphql', smilecookUrl);
  // Proof ids seen in the last minute, each accepted once.
  const seen = new Map();
  let base = '';

  // RFC 9449 section 4.3: the proof names this request, carries the token's hash, is fresh,
  // unused, and signed by the key the token is bound to.
  async function checkProof(proof, request, token, jkt) {
    if (!proof) throw new errors.JWTInvalid('this token is bound to a key: send a DPoP proof');
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256', 'EdDSA'],
      maxTokenAge: '60s',
      clockTolerance: 5,
    });
    const url = new URL(request.url, base);
    const ath = createHash('sha256').update(token).digest('base64url');
    const htu = (() => {
      try {
        const named = new URL(payload.htu);
        return `${named.origin}${named.pathname}`;
      } catch {
        return '';
      }
    })();
    if (payload.htm !== request.method || htu !== `${url.origin}${url.pathname}` || payload.ath !== ath) {
      throw new errors.JWTClaimValidationFailed('the proof is for another request or token');
    }
    if ((await calculateJwkThumbprint(protectedHeader.jwk)) !== jkt) {
      throw new errors.JWTClaimValidationFailed('the proof is signed by another key than the token is bound to');
    }
    const now = Date.now();
    for (const [id, until] of seen) if (until < now) seen.delete(id);
    const id = `${jkt}:${payload.jti}`;
    if (typeof payload.jti !== 'string' || seen.has(id)) {
      throw new errors.JWTClaimValidationFailed('the proof was used before');
    }
    seen.set(id, now + 65_000);
  }

  // Local verification: signature by a published key, the algorithm of that key (jose takes
  // it from the JWK), issuer, audience, expiry and `typ: at+jwt`.
  async function verifyLocally(token) {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: metadata.issuer,
      audience: AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['ES256', 'EdDSA'],
    });
    return payload;
  }

  async function introspect(token) {
    const response = await fetch(metadata.introspection_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (!response.ok) throw new Error(`introspection answered ${response.status}`);
    const answer = await response.json();
    if (!answer.active || answer.token_use !== 'access') throw new errors.JWTInvalid('inactive token');
    return answer;
  }

  async function recipe(id) {
    const response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query ($id: ID!) { recipe(id: $id) { id name description author { username } } }',
        variables: { id },
      }),
    });
    const body = await response.json();
    return body.data?.recipe ?? null;
  }

  const server = createServer(async (request, response) => {
    const send = (status, body) => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body));
    };
    const url = new URL(request.url, 'http://localhost');
    const match = /^\/cards\/([^/]+)(\/print)?$/.exec(url.pathname);
    const print = Boolean(match?.[2]);
    if (!match || request.method !== (print ? 'POST' : 'GET')) return send(404, { error: 'not_found' });
    const [, scheme, token] = /^(Bearer|DPoP) (\S+)$/i.exec(request.headers.authorization ?? '') ?? [];
    if (!token) return send(401, { error: 'missing_token' });
    let subject;
    try {
      const verified = print ? await introspect(token) : await verifyLocally(token);
      const jkt = verified.cnf?.jkt;
      if (jkt) {
        if (scheme.toLowerCase() !== 'dpop') throw new errors.JWTInvalid('a bound token is sent as DPoP');
        await checkProof(request.headers.dpop, request, token, jkt);
      } else if (scheme.toLowerCase() !== 'bearer') {
        throw new errors.JWTInvalid('an unbound token is sent as Bearer');
      }
      subject = verified.sub;
    } catch (error) {
      const code = error instanceof errors.JOSEError ? error.code : 'invalid_token';
      return send(401, { error: 'invalid_token', reason: code });
    }
    try {
      const card = await recipe(decodeURIComponent(match[1]));
      if (!card) return send(404, { error: 'no_such_recipe' });
      return send(200, { card, sub: subject, verifiedBy: print ? 'introspection' : 'jwks', printed: print });
    } catch (error) {
      return send(502, { error: 'smilecook_unreachable', reason: String(error?.message ?? error) });
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${address.port}`;
  return { url: base, close: () => new Promise((r) => server.close(r)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await start();
  console.log(`recipe cards listening on ${url}`);
}
