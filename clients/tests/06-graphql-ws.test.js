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

/** Waits until `done()` holds, checking every 20 ms, for at most a minute. */
async function until(done, what) {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within a minute`);
    await sleep(20);
  }
}

/** Subscribes to `query` on `client`: its results as they come, and the reading's end. */
function subscribe(client, query, count) {
  const results = [];
  const reading = (async () => {
    for await (const result of client.iterate({ query })) {
      results.push(result);
      if (results.length === count) break;
    }
  })();
  return { results, reading };
}

/**
 * Runs `act` (which makes an event happen) until `count` results have come, again after each
 * second without one: nothing tells a client when the server's subscription is in place (an
 * event before that is not for this subscriber), and a loaded machine may take a while, so the
 * test waits for what it needs instead of for a guessed time.
 */
async function actUntil({ results, reading }, count, act) {
  const deadline = Date.now() + 60_000;
  while (results.length < count && Date.now() < deadline) {
    await act();
    await Promise.race([reading, sleep(1_000)]);
  }
  return results;
}

/** The first `count` results of `query` on `client`, `act` run until they have come. */
async function collect(client, query, count, act) {
  return actUntil(subscribe(client, query, count), count, act);
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

    // How soon is measured by bench/subscribers.sh; here, that it happens, with its code.
    await graphqlData(server.url, 'mutation { logout }', {}, { token: ada.accessToken });
    await until(() => closes.length > 0, 'close');
    assert.deepEqual(closes[0], { code: 4403, reason: 'TOKEN_REVOKED' });
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
    // Subscribed with the first token; it expires (2 s), the server closes the connection, the
    // client refreshes and subscribes again by itself: then the events flow again.
    const subscription = subscribe(client, MINE, 1);
    await until(() => refreshes >= 1, 'refresh');
    const results = await actUntil(subscription, 1, async () => {
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
