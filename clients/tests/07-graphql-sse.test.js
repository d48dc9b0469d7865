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
  return iterator;
}

/**
 * The iterator's first step, with `act(n)` (which makes an event happen) run until it comes,
 * again after each second without one: the headers of an event stream come before the server's
 * subscription is in place (an event before that is not for this subscriber), and a loaded
 * machine may take a while, so the test waits for what it needs instead of a guessed time.
 * Returns the step and how many times `act` ran (each may add an event later).
 */
async function firstWhileActing(iterator, act) {
  let arrived = false;
  const first = iterator.next().then((step) => {
    arrived = true;
    return step;
  });
  const deadline = Date.now() + 60_000;
  let acts = 0;
  while (!arrived && Date.now() < deadline) {
    acts += 1;
    await act(acts);
    await Promise.race([first, sleep(1_000)]);
  }
  if (!arrived) throw new Error('no event within a minute');
  return { step: await first, acts };
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
      const published = [];
      const { step: first } = await firstWhileActing(iterator, async (n) => {
        await graphqlData(
          server.url,
          CREATE,
          { input: { name: `Secret SSE draft ${n}`, numOfServings: 1, cookTime: 5 } },
          { token: ada.accessToken },
        );
        published.push(await createPublishedRecipe(server.url, ada.accessToken, { name: `Soup over SSE ${n}` }));
      });
      assert.equal(first.done, false);
      const recipe = first.value.data.recipePublished;
      assert.ok(published.includes(recipe.id), JSON.stringify(first));
      assert.match(recipe.name, /^Soup over SSE \d+$/);
      // Whatever follows is a publication of this test's, never a draft.
      for (;;) {
        const next = await nextWithin(iterator, 700).catch(() => null);
        if (!next) break;
        assert.match(next.value.data.recipePublished.name, /^Soup over SSE \d+$/);
      }
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
      const { step: first, acts } = await firstWhileActing(iterator, (n) =>
        graphqlData(
          server.url,
          CREATE,
          { input: { name: `Draft of mine over SSE ${n}`, numOfServings: 1, cookTime: 5 } },
          { token: ada.accessToken },
        ),
      );
      assert.equal(first.done, false);
      assert.equal(first.value.data.myRecipeEvents.change, 'CREATED');
      assert.equal(first.value.data.myRecipeEvents.recipe.isPublish, false);
      assert.match(first.value.data.myRecipeEvents.recipe.name, /^Draft of mine over SSE \d+$/);

      await graphqlData(server.url, 'mutation { logout }', {}, { token: ada.accessToken });

      // graphql-sse hands a `next` whose payload has errors to the sink as an ordinary result
      // (it neither rejects nor throws): the iterator yields it, then ends without an error.
      // Events of the drafts written while waiting for the first may come before it. How soon
      // it comes is measured by bench/subscribers.sh; here, that it comes, with its code.
      let revoked = await nextWithin(iterator, 30_000);
      let created = 1;
      while (!revoked.done && revoked.value.data?.myRecipeEvents) {
        created += 1;
        revoked = await nextWithin(iterator, 30_000);
      }
      assert.ok(created <= acts, `${created} events of ${acts} drafts`);
      assert.equal(revoked.done, false);
      assert.deepEqual(Object.keys(revoked.value), ['errors']);
      assert.equal(revoked.value.errors.length, 1);
      assert.equal(typeof revoked.value.errors[0].message, 'string');
      assert.deepEqual(revoked.value.errors[0].extensions, { code: 'TOKEN_REVOKED' });

      assert.deepEqual(await nextWithin(iterator, 30_000), { done: true, value: undefined });
      // On the wire: the event, the error, then `complete`; one connection, no retry.
      assert.deepEqual(
        messages.map((message) => message.event),
        [...Array(created).fill('next'), 'next', 'complete'],
      );
      assert.deepEqual(messages[created].data, revoked.value);
      assert.equal(messages[created + 1].data, null);
      assert.equal(connecting, 1);
    } finally {
      client.dispose();
    }
  });
});
