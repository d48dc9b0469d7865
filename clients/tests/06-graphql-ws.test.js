// graphql-ws (the `graphql-transport-ws` protocol's reference client) against the server's
// WebSocket transport: events arrive; the token goes in connectionParams; a connection ends with
// 4403 and TOKEN_EXPIRED when its token expires, and the client refreshes and reconnects (the
// code the README shows); a logout ends it with TOKEN_REVOKED.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import {
  createPublishedRecipe,
  graphqlData,
  registerAndLogin,
  sleep,
  startServer,
} from '../lib/server.js';

const PUBLISHED = 'subscription { recipePublished { id name author { username } } }';
const MINE = 'subscription { myRecipeEvents { change recipe { name isPublish } } }';
const REFRESH =
  'mutation ($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }';

const wsUrl = (url) => url.replace(/^http/, 'ws');

/** The first `count` results of `query` on `client`, while `act` runs. */
async function collect(client, query, count, act) {
  const results = [];
  const iterator = client.iterate({ query });
  const reading = (async () => {
    for await (const result of iterator) {
      results.push(result);
      if (results.length === count) break;
    }
  })();
  await sleep(300); // subscribed before acting
  await act();
  await Promise.race([reading, sleep(10_000)]);
  return results;
}

describe('graphql-ws', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('a published recipe reaches an anonymous subscriber; a draft does not', async () => {
    const ada = await registerAndLogin(server.url, 'wsada');
    const client = createClient({ url: wsUrl(server.url), webSocketImpl: WebSocket, retryAttempts: 0 });
    const results = await collect(client, PUBLISHED, 1, async () => {
      await graphqlData(
        server.url,
        'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }',
        { input: { name: 'Secret draft', numOfServings: 1, cookTime: 5 } },
        { token: ada.accessToken },
      );
      await createPublishedRecipe(server.url, ada.accessToken, { name: 'Soup over WebSocket' });
    });
    await client.dispose();
    assert.equal(results.length, 1);
    assert.equal(results[0].data.recipePublished.name, 'Soup over WebSocket');
    assert.equal(results[0].data.recipePublished.author.username, ada.username);
  });

  test('the token goes in connectionParams; a logout closes the connection with TOKEN_REVOKED', async () => {
    const ada = await registerAndLogin(server.url, 'wsrev');
    const closes = [];
    const client = createClient({
      url: wsUrl(server.url),
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${ada.accessToken}` },
      lazy: false, // the connection stays open once its subscription is done
      retryAttempts: 0,
      on: { closed: (event) => closes.push({ code: event.code, reason: event.reason }) },
    });
    const results = await collect(client, MINE, 1, async () => {
      await graphqlData(
        server.url,
        'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }',
        { input: { name: 'Draft of mine', numOfServings: 1, cookTime: 5 } },
        { token: ada.accessToken },
      );
    });
    assert.equal(results[0].data.myRecipeEvents.change, 'CREATED');
    assert.equal(results[0].data.myRecipeEvents.recipe.isPublish, false);

    const loggedOut = Date.now();
    await graphqlData(server.url, 'mutation { logout }', {}, { token: ada.accessToken });
    while (closes.length === 0 && Date.now() - loggedOut < 5_000) await sleep(20);
    assert.deepEqual(closes[0], { code: 4403, reason: 'TOKEN_REVOKED' });
    assert.ok(Date.now() - loggedOut < 1_500, `closed after ${Date.now() - loggedOut} ms`);
    await client.dispose();
  });
});

describe('graphql-ws with short-lived access tokens', () => {
  let server;
  before(async () => {
    server = await startServer({ args: ['--access-token-ttl=2s'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('TOKEN_EXPIRED closes the connection; the client refreshes and the subscription goes on', async () => {
    const ada = await registerAndLogin(server.url, 'wsexp');
    const tokens = { access: ada.accessToken, refresh: ada.refreshToken };
    const closes = [];
    let refreshes = 0;
    // As the README shows: connectionParams reads the current token, and a 4403 for an expired
    // token is answered by a refresh and a retry; graphql-ws subscribes again by itself.
    const client = createClient({
      url: wsUrl(server.url),
      webSocketImpl: WebSocket,
      connectionParams: async () => ({ Authorization: `Bearer ${tokens.access}` }),
      shouldRetry: (event) => event?.code === 4403 && event?.reason === 'TOKEN_EXPIRED',
      retryAttempts: 3,
      retryWait: async () => {
        const { refreshToken } = await graphqlData(server.url, REFRESH, { token: tokens.refresh });
        tokens.access = refreshToken.accessToken;
        tokens.refresh = refreshToken.refreshToken;
        refreshes += 1;
      },
      on: { closed: (event) => closes.push({ code: event.code, reason: event.reason }) },
    });
    const results = await collect(client, MINE, 1, async () => {
      await sleep(3_500); // past the first token's lifetime: closed, refreshed, reconnected
      await graphqlData(
        server.url,
        'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }',
        { input: { name: 'After the refresh', numOfServings: 1, cookTime: 5 } },
        { token: tokens.access },
      );
    });
    await client.dispose();
    assert.deepEqual(closes[0], { code: 4403, reason: 'TOKEN_EXPIRED' });
    assert.ok(refreshes >= 1);
    assert.equal(results[0]?.data?.myRecipeEvents?.recipe?.name, 'After the refresh');
  });
});
