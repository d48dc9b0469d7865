// A second service in the repository (examples/recipe-cards, Node with jose) trusts Smilecook's
// access tokens without a shared secret, end to end: verified through the JWKS on one route
// and through introspection on another, across a key rotation, a logout and a key
// revocation; and PyJWT's PyJWKClient verifies the same tokens before and after the rotation.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';

import {
  CLIENTS_DIR,
  REPO_DIR,
  createPublishedRecipe,
  graphqlData,
  rawGraphql,
  registerAndLogin,
  sleep,
  startServer,
} from '../lib/server.js';

const SERVICE = join(REPO_DIR, 'examples/recipe-cards/server.js');
const PYTHON = join(CLIENTS_DIR, '.venv/bin/python');

let server;
let service;

const kidOf = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid;

/** Waits until `condition()` holds: instances and caches poll, so this bounds a failure. */
async function until(what, condition) {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `never: ${what}`);
    await sleep(100);
  }
}

function startService(env) {
  const child = spawn(process.execPath, [SERVICE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve({ url: match[1], stop: () => child.kill('SIGTERM') });
    });
    child.once('exit', (code) => reject(new Error(`the service exited (${code})`)));
  });
}

async function card(recipeId, token, { print = false } = {}) {
  const response = await fetch(`${service.url}/cards/${recipeId}${print ? '/print' : ''}`, {
    method: print ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, ...(await response.json()) };
}

function pyjwt(...tokens) {
  assert.ok(existsSync(PYTHON), 'PyJWT is not installed: run `npm run setup:python` in clients/');
  return new Promise((resolve) => {
    execFile(PYTHON, [join(CLIENTS_DIR, 'pyjwt/verify.py'), server.origin, ...tokens], (error, stdout) => {
      resolve({ ok: !error, lines: stdout.trim().split('\n').map((line) => JSON.parse(line)) });
    });
  });
}

async function login(user) {
  const { login } = await graphqlData(
    server.url,
    'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }',
    { input: { login: user.username, password: user.password } },
  );
  return login;
}

before(async () => {
  server = await startServer({
    args: ['--keys-refresh-interval=100ms', '--key-publish-ahead=2s', '--jwks-max-age=1s'],
  });
  const printed = await server.clients('add', 'recipe-cards');
  const field = (name) => new RegExp(`^${name}=(.+)$`, 'm').exec(printed)[1];
  service = await startService({
    SMILECOOK_URL: server.origin,
    INTROSPECTION_CLIENT_ID: field('client_id'),
    INTROSPECTION_CLIENT_SECRET: field('client_secret'),
    // Short enough for a test; production keeps jose's defaults (10 minutes, 30 s).
    JWKS_CACHE_MS: '1000',
    JWKS_COOLDOWN_MS: '100',
  });
});

after(async () => {
  service?.stop();
  await server?.stop();
});

test('the service accepts tokens through the JWKS and introspection, across a rotation, a logout and a key revocation', async () => {
  const ada = await registerAndLogin(server.url, 'ada');
  const recipeId = await createPublishedRecipe(server.url, ada.accessToken, { name: 'Soup' });
  const before = ada.accessToken;

  const local = await card(recipeId, before);
  assert.equal(local.status, 200, JSON.stringify(local));
  assert.deepEqual([local.verifiedBy, local.sub, local.card.name], ['jwks', ada.userId, 'Soup']);
  const printed = await card(recipeId, before, { print: true });
  assert.equal(printed.verifiedBy, 'introspection');
  assert.equal((await card(recipeId, 'not-a-token')).status, 401);

  // Rotation: the new key is published first, then signs; the old one keeps verifying.
  await server.keys('rotate');
  await until('tokens are signed by the new key', async () => kidOf((await login(ada)).accessToken) !== kidOf(before));
  const after = (await login(ada)).accessToken;
  for (const token of [before, after]) {
    assert.equal((await card(recipeId, token)).status, 200);
    assert.equal((await card(recipeId, token, { print: true })).status, 200);
  }
  const python = await pyjwt(before, after);
  assert.ok(python.ok, JSON.stringify(python.lines));
  assert.deepEqual(python.lines.map((line) => line.kid), [kidOf(before), kidOf(after)]);

  // Logout: introspection says so at once; local verification accepts until expiry.
  await rawGraphql(server.url, 'mutation { logout }', {}, { token: after });
  assert.equal((await card(recipeId, after, { print: true })).status, 401);
  assert.equal((await card(recipeId, after)).status, 200, 'local verification sees a logout at expiry');

  // A revoked key: the server refuses its tokens within a refresh interval; the service
  // once its cached key set is refreshed (JWKS_CACHE_MS here).
  await server.keys('revoke', kidOf(before));
  await until('the server refuses the revoked key', async () => {
    const me = await rawGraphql(server.url, '{ me { id } }', {}, { token: before });
    return me.errors?.[0]?.extensions?.code === 'TOKEN_REVOKED';
  });
  assert.equal((await card(recipeId, before, { print: true })).status, 401);
  await until('the service refuses the revoked key', async () => (await card(recipeId, before)).status === 401);
  const refused = await pyjwt(before);
  assert.ok(!refused.ok, 'PyJWT accepted a token of a revoked key');
});

test('the service checks DPoP proofs for bound tokens, through the JWKS and through introspection', async () => {
  const { generateKeyPair, generateProof } = await import('dpop');
  const key = await generateKeyPair('ES256');
  const ada = await registerAndLogin(server.url, 'dpopcards');
  const recipeId = await createPublishedRecipe(server.url, ada.accessToken, { name: 'Bound soup' });
  const loginProof = await generateProof(key, server.url, 'POST');
  const { login } = await graphqlData(
    server.url,
    'mutation ($input: LoginInput!) { login(input: $input) { accessToken tokenType } }',
    { input: { login: ada.username, password: ada.password } },
    { headers: { dpop: loginProof } },
  );
  assert.equal(login.tokenType, 'DPoP');
  const token = login.accessToken;

  const call = async ({ print = false, scheme = 'DPoP', proof } = {}) => {
    const url = `${service.url}/cards/${recipeId}${print ? '/print' : ''}`;
    const method = print ? 'POST' : 'GET';
    const headers = { authorization: `${scheme} ${token}`, ...(proof ? { dpop: proof } : {}) };
    const response = await fetch(url, { method, headers });
    return response.status;
  };
  const cardUrl = `${service.url}/cards/${recipeId}`;
  const proof = await generateProof(key, cardUrl, 'GET', undefined, token);
  assert.equal(await call({ proof }), 200, 'a bound token with its proof, through the JWKS');
  assert.equal(await call({ proof }), 401, 'the same proof again');
  assert.equal(await call({}), 401, 'no proof');
  assert.equal(await call({ scheme: 'Bearer', proof: await generateProof(key, cardUrl, 'GET', undefined, token) }), 401, 'as Bearer');
  const thief = await generateKeyPair('ES256');
  assert.equal(await call({ proof: await generateProof(thief, cardUrl, 'GET', undefined, token) }), 401, 'another key');
  const printProof = await generateProof(key, `${cardUrl}/print`, 'POST', undefined, token);
  assert.equal(await call({ print: true, proof: printProof }), 200, 'through introspection');
  assert.equal(await call({ print: true, proof: await generateProof(key, cardUrl, 'GET', undefined, token) }), 401, 'a proof for another request');
});
