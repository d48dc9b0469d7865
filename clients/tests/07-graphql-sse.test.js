// graphql-sse (the GraphQL over Server-Sent Events protocol's reference client) in its "distinct
// connections" mode against the server's SSE transport: every operation is one
// `POST /graphql` with `Accept: text/event-stream`, answered by `next` events and a last
// `complete`; the token goes in the `Authorization` header. A query gives one result and
// completes; the published feed reaches an anonymous subscriber and a draft does not; a logout
// ends an authenticated stream with a last result carrying TOKEN_REVOKED, then `complete`.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'graphql-sse';

import {
  createPublishedRecipe,
  graphqlData,
  registerAndLogin,
  sleep,
  startServer,
} from '../lib/server.js';

const ME = '{ me { username } }';
const PUBLISHED = 'subscription { recipePublished { id name } }';
const MINE = 'subscription { myRecipeEvents { change recipe { name isPublish } } }';
const CREATE =
  'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }';

/** A client in distinct connections mode; `token` (if any) in the Authorization header. */
function sseClient(url, token, on = {}) {
  return createClient({
    url,
    singleConnection: false,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    retryAttempts: 0, // a broken stream is an error here, not a reason to connect again
    on,
  });
}

/** The iterator's next step, or an error after `ms` milliseconds. */
async function nextWithin(iterator, ms) {
  let timer;
  try {
    return await Promise.race([
      iterator.next(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no step of the stream within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Iterates `query`; resolves once the response's headers have come (graphql-sse's `connected`). */
async function subscribed(client, query) {
  let onConnected;
  let timer;
  const connected = new Promise((resolveConnected, reject) => {
    onConnected = resolveConnected;
    timer = setTimeout(() => reject(new Error('the event stream did not open within 10 s')), 10_000);
  });
  const iterator = client.iterate({ query }, { connected: () => onConnected() });
  try {
    await connected;
  } finally {
    clearTimeout(timer);
  }
  await sleep(300); // the server's subscription is in place before acting
  return iterator;
}

describe('graphql-sse (distinct connections)', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('a query through subscribe gives its one result with the header token, then completes', async () => {
    const ada = await registerAndLogin(server.url, 'sseme');
    const messages = [];
    const client = sseClient(server.url, ada.accessToken, { message: (message) => messages.push(message) });
    try {
      const results = [];
      await new Promise((resolveDone, reject) => {
        const timer = setTimeout(() => reject(new Error('the query did not complete within 10 s')), 10_000);
        client.subscribe(
          { query: ME },
          {
            next: (result) => results.push(result),
            error: (error) => {
              clearTimeout(timer);
              reject(error);
            },
            complete: () => {
              clearTimeout(timer);
              resolveDone();
            },
          },
        );
      });
      assert.deepEqual(results, [{ data: { me: { username: ada.username } } }]);
      // On the wire: one `next` with the result, then `complete` (which has no data).
      assert.deepEqual(messages, [
        { event: 'next', data: { data: { me: { username: ada.username } } } },
        { event: 'complete', data: null },
      ]);

      // The same through iterate: one result, then the iterator is done.
      const iterator = client.iterate({ query: ME });
      assert.deepEqual(await nextWithin(iterator, 10_000), {
        done: false,
        value: { data: { me: { username: ada.username } } },
      });
      assert.deepEqual(await nextWithin(iterator, 10_000), { done: true, value: undefined });
    } finally {
      client.dispose();
    }
  });

  test('a published recipe reaches an anonymous subscriber; a draft does not', async () => {
    const ada = await registerAndLogin(server.url, 'ssepub');
    const client = sseClient(server.url);
    try {
      const iterator = await subscribed(client, PUBLISHED);
      // Another user's draft first, then a published recipe: only the second may arrive.
      await graphqlData(
        server.url,
        CREATE,
        { input: { name: 'Secret SSE draft', numOfServings: 1, cookTime: 5 } },
        { token: ada.accessToken },
      );
      const id = await createPublishedRecipe(server.url, ada.accessToken, { name: 'Soup over SSE' });

      const first = await nextWithin(iterator, 10_000);
      assert.deepEqual(first, {
        done: false,
        value: { data: { recipePublished: { id, name: 'Soup over SSE' } } },
      });
      // Nothing else (the draft least of all) follows.
      await assert.rejects(nextWithin(iterator, 700), /no step of the stream within 700 ms/);
    } finally {
      client.dispose();
    }
  });

  test('a logout ends myRecipeEvents with a last result carrying TOKEN_REVOKED, then complete', async () => {
    const ada = await registerAndLogin(server.url, 'sserev');
    const messages = [];
    let connecting = 0;
    const client = sseClient(server.url, ada.accessToken, {
      connecting: () => {
        connecting += 1;
      },
      message: (message) => messages.push(message),
    });
    try {
      const iterator = await subscribed(client, MINE);
      await graphqlData(
        server.url,
        CREATE,
        { input: { name: 'Draft of mine over SSE', numOfServings: 1, cookTime: 5 } },
        { token: ada.accessToken },
      );
      assert.deepEqual(await nextWithin(iterator, 10_000), {
        done: false,
        value: {
          data: { myRecipeEvents: { change: 'CREATED', recipe: { name: 'Draft of mine over SSE', isPublish: false } } },
        },
      });

      const loggedOut = Date.now();
      await graphqlData(server.url, 'mutation { logout }', {}, { token: ada.accessToken });

      // graphql-sse hands a `next` whose payload has errors to the sink as an ordinary result
      // (it neither rejects nor throws): the iterator yields it, then ends without an error.
      const revoked = await nextWithin(iterator, 5_000);
      const elapsed = Date.now() - loggedOut;
      assert.equal(revoked.done, false);
      assert.deepEqual(Object.keys(revoked.value), ['errors']);
      assert.equal(revoked.value.errors.length, 1);
      assert.equal(typeof revoked.value.errors[0].message, 'string');
      assert.deepEqual(revoked.value.errors[0].extensions, { code: 'TOKEN_REVOKED' });
      assert.ok(elapsed < 1_500, `TOKEN_REVOKED came ${elapsed} ms after the logout`);

      assert.deepEqual(await nextWithin(iterator, 5_000), { done: true, value: undefined });
      // On the wire: the event, the error, then `complete`; one connection, no retry.
      assert.deepEqual(
        messages.map((message) => message.event),
        ['next', 'next', 'complete'],
      );
      assert.deepEqual(messages[1].data, revoked.value);
      assert.equal(messages[2].data, null);
      assert.equal(connecting, 1);
    } finally {
      client.dispose();
    }
  });
});
