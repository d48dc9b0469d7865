// DPoP (RFC 9449) with a maintained client library (`dpop`, by the author of `jose`): a
// login, queries, a refresh, a subscription over graphql-ws and a logout, all with tokens
// bound to a key the client holds (a WebCrypto key pair); then the ways a stolen token or
// proof is refused, each with INVALID_DPOP_PROOF.

import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { after, before, test } from 'node:test';
import { generateKeyPair, generateProof } from 'dpop';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { graphqlData, rawGraphql, startServer } from '../lib/server.js';

const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken tokenType } }';
const REFRESH = 'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken tokenType } }';
const ME = '{ me { username } }';
const MINE = 'subscription { myRecipeEvents { change recipe { name } } }';
const CREATE = 'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** A GraphQL POST with a fresh proof by `key` (for `token`, if any) and the DPoP scheme. */
async function dpopRequest(key, query, variables, token, { proof } = {}) {
  const dpop = proof ?? (await generateProof(key, server.url, 'POST', undefined, token));
  const headers = { dpop, ...(token ? { authorization: `DPoP ${token}` } : {}) };
  return rawGraphql(server.url, query, variables, { headers });
}

const code = (body) => body.errors?.[0]?.extensions?.code;

/** A proof signed by hand (WebCrypto), to say what the library would not: an old `iat`. */
async function handMadeProof(key, claims) {
  const jwk = await webcrypto.subtle.exportKey('jwk', key.publicKey);
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = await webcrypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

test('a client with a key logs in, queries, refreshes, subscribes and logs out with bound tokens', async () => {
  const key = await generateKeyPair('ES256');
  const username = `dpop_${process.pid}`;
  const password = 'a long enough password';
  await graphqlData(server.url, 'mutation ($input: RegisterInput!) { register(input: $input) { id } }', {
    input: { username, email: `${username}@example.com`, password },
  });
  const login = (await dpopRequest(key, LOGIN, { input: { login: username, password } })).data.login;
  assert.equal(login.tokenType, 'DPoP');

  const me = await dpopRequest(key, ME, {}, login.accessToken);
  assert.equal(me.data.me.username, username, JSON.stringify(me));

  const refreshed = (await dpopRequest(key, REFRESH, { t: login.refreshToken })).data.refreshToken;
  assert.equal(refreshed.tokenType, 'DPoP');
  const token = refreshed.accessToken;

  // graphql-ws: the proof goes in connectionParams, for GET on the endpoint.
  const client = createClient({
    url: server.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: async () => ({
      Authorization: `DPoP ${token}`,
      DPoP: await generateProof(key, server.url, 'GET', undefined, token),
    }),
  });
  const events = [];
  const subscription = (async () => {
    for await (const result of client.iterate({ query: MINE })) {
      events.push(result);
      return;
    }
  })();
  // Act until the event comes: nothing tells a client when the subscription is in place.
  const deadline = Date.now() + 60_000;
  let n = 0;
  while (events.length === 0) {
    assert.ok(Date.now() < deadline, 'no event over the WebSocket');
    n += 1;
    await dpopRequest(key, CREATE, { input: { name: `Bound soup ${n}`, numOfServings: 1, cookTime: 5 } }, token);
    await Promise.race([subscription, new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  assert.equal(events[0].data.myRecipeEvents.change, 'CREATED', JSON.stringify(events[0]));
  await client.dispose();

  const out = await dpopRequest(key, 'mutation { logout }', {}, token);
  assert.equal(out.data.logout, true, JSON.stringify(out));
  assert.equal(code(await dpopRequest(key, ME, {}, token)), 'TOKEN_REVOKED');
});

test('a stolen token or proof is refused: replayed, for another URL or method, too old, without its proof, as Bearer', async () => {
  const key = await generateKeyPair('ES256');
  const username = `dpop2_${process.pid}`;
  const password = 'a long enough password';
  await graphqlData(server.url, 'mutation ($input: RegisterInput!) { register(input: $input) { id } }', {
    input: { username, email: `${username}@example.com`, password },
  });
  const { accessToken } = (await dpopRequest(key, LOGIN, { input: { login: username, password } })).data.login;

  const proof = await generateProof(key, server.url, 'POST', undefined, accessToken);
  assert.equal((await dpopRequest(key, ME, {}, accessToken, { proof })).data.me.username, username);
  const ath = JSON.parse(Buffer.from(proof.split('.')[1], 'base64url')).ath;
  const refused = {
    'a replayed proof': await dpopRequest(key, ME, {}, accessToken, { proof }),
    'a proof for another URL': await dpopRequest(key, ME, {}, accessToken, {
      proof: await generateProof(key, 'https://example.com/graphql', 'POST', undefined, accessToken),
    }),
    'a proof for another method': await dpopRequest(key, ME, {}, accessToken, {
      proof: await generateProof(key, server.url, 'GET', undefined, accessToken),
    }),
    'a proof too old': await dpopRequest(key, ME, {}, accessToken, {
      proof: await handMadeProof(key, {
        jti: crypto.randomUUID(),
        htm: 'POST',
        htu: server.url,
        iat: Math.floor(Date.now() / 1000) - 300,
        ath,
      }),
    }),
    'a proof by a thief': await dpopRequest(await generateKeyPair('ES256'), ME, {}, accessToken),
    'the token without its proof': await rawGraphql(server.url, ME, {}, { headers: { authorization: `DPoP ${accessToken}` } }),
    'the token as Bearer': await rawGraphql(server.url, ME, {}, { token: accessToken }),
  };
  for (const [what, body] of Object.entries(refused)) {
    assert.equal(code(body), 'INVALID_DPOP_PROOF', `${what}: ${JSON.stringify(body)}`);
    assert.equal(body.data?.me ?? null, null, what);
  }
});
