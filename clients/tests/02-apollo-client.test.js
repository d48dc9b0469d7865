// Apollo Client 4 (core entry point, no React): cursor pagination with relayStylePagination,
// a token refresh done inside an ErrorLink, and TOKEN_REVOKED read the Apollo 4 way.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  gql,
} from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { relayStylePagination } from '@apollo/client/utilities';
import { from as fromPromise, mergeMap } from 'rxjs';

import { createPublishedRecipe, rawGraphql, registerAndLogin, sleep, startServer } from '../lib/server.js';

const RECIPES = gql`
  query PagedRecipes($first: Int, $after: String) {
    recipes(first: $first, after: $after) {
      edges {
        cursor
        node { id name cookTime author { username } }
      }
      pageInfo { endCursor hasNextPage }
      totalCount
    }
  }
`;
const ME = gql`
  query Me { me { id username } }
`;
const LOGOUT = gql`
  mutation Logout { logout }
`;
const REFRESH = `
  mutation Refresh($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) { accessToken refreshToken expiresIn }
  }
`;

/**
 * The app's token store, an Apollo client wired with
 * ErrorLink (refresh on TOKEN_EXPIRED) -> SetContextLink (Authorization) -> HttpLink,
 * and counters for what went over the wire.
 */
function makeClient(url, tokens = {}) {
  const store = { ...tokens };
  const stats = { refreshes: 0, requests: [] };

  async function refresh() {
    stats.refreshes += 1;
    const body = await rawGraphql(url, REFRESH, { refreshToken: store.refreshToken });
    if (body.errors?.length) throw new Error(`refresh failed: ${JSON.stringify(body.errors)}`);
    store.accessToken = body.data.refreshToken.accessToken;
    store.refreshToken = body.data.refreshToken.refreshToken;
  }

  const errorLink = new ErrorLink(({ error, operation, forward }) => {
    if (
      CombinedGraphQLErrors.is(error) &&
      error.errors.some((e) => e.extensions?.code === 'TOKEN_EXPIRED') &&
      !operation.getContext().retriedAfterRefresh
    ) {
      operation.setContext({ retriedAfterRefresh: true });
      return fromPromise(refresh()).pipe(mergeMap(() => forward(operation)));
    }
    return undefined;
  });

  const authLink = new SetContextLink((prevContext) => ({
    headers: {
      ...prevContext.headers,
      ...(store.accessToken ? { Authorization: `Bearer ${store.accessToken}` } : {}),
    },
  }));

  const httpLink = new HttpLink({
    uri: url,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      stats.requests.push({
        authorization: headers.get('authorization'),
        operationName: JSON.parse(init.body).operationName,
      });
      return fetch(input, init);
    },
  });

  const client = new ApolloClient({
    link: ApolloLink.from([errorLink, authLink, httpLink]),
    cache: new InMemoryCache({
      typePolicies: {
        Query: {
          fields: {
            recipes: relayStylePagination(['search', 'orderBy']),
          },
        },
      },
    }),
  });
  return { client, store, stats };
}

describe('Apollo Client 4 against the default server', () => {
  let server;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('cursor pagination: fetchMore twice, relayStylePagination merges every page in order', async () => {
    const author = await registerAndLogin(server.url, 'pager');
    const created = [];
    for (let i = 1; i <= 7; i += 1) {
      created.push(await createPublishedRecipe(server.url, author.accessToken, { name: `Pager recipe ${i}`, cookTime: i }));
    }
    const newestFirst = [...created].reverse();

    const { client, stats } = makeClient(server.url);
    const observable = client.watchQuery({ query: RECIPES, variables: { first: 3 } });
    const results = [];
    const subscription = observable.subscribe({ next: (result) => results.push(result) });
    try {
      const first = await observable.refetch();
      assert.equal(first.data.recipes.edges.length, 3);
      assert.equal(first.data.recipes.totalCount, 7);
      assert.equal(first.data.recipes.pageInfo.hasNextPage, true);

      const second = await observable.fetchMore({
        variables: { after: first.data.recipes.pageInfo.endCursor },
      });
      assert.equal(second.data.recipes.edges.length, 3, 'fetchMore returns the new page itself');

      const cachedAfterTwo = client.readQuery({ query: RECIPES, variables: { first: 3 } });
      assert.equal(cachedAfterTwo.recipes.edges.length, 6);
      assert.equal(cachedAfterTwo.recipes.pageInfo.hasNextPage, true);

      const third = await observable.fetchMore({
        variables: { after: cachedAfterTwo.recipes.pageInfo.endCursor },
      });
      assert.equal(third.data.recipes.edges.length, 1);

      const cached = client.readQuery({ query: RECIPES, variables: { first: 3 } });
      assert.deepEqual(
        cached.recipes.edges.map((edge) => edge.node.id),
        newestFirst,
        'the cache holds all 7 recipes, newest first, each once',
      );
      assert.deepEqual(
        cached.recipes.edges.map((edge) => edge.node.name),
        newestFirst.map((id) => `Pager recipe ${created.indexOf(id) + 1}`),
      );
      assert.equal(cached.recipes.pageInfo.hasNextPage, false);
      assert.equal(cached.recipes.pageInfo.endCursor, cached.recipes.edges.at(-1).cursor);
      assert.equal(cached.recipes.totalCount, 7);

      // The watching query is told about the merged list as well.
      const deadline = Date.now() + 5_000;
      while (results.at(-1)?.data?.recipes?.edges?.length !== 7 && Date.now() < deadline) {
        await sleep(20);
      }
      const latest = results.at(-1);
      assert.equal(latest.data.recipes.edges.length, 7, 'the watchQuery subscriber receives the merged list');
      assert.equal(latest.data.recipes.pageInfo.hasNextPage, false);
      assert.equal(observable.getCurrentResult().data.recipes.edges.length, 7);
      // Three pages, three requests (the watchQuery's first fetch may add one more).
      assert.ok(stats.requests.filter((r) => r.operationName === 'PagedRecipes').length >= 3);
    } finally {
      subscription.unsubscribe();
    }
  });

  test('logout, then TOKEN_REVOKED read through CombinedGraphQLErrors', async () => {
    const user = await registerAndLogin(server.url, 'leaver');
    const { client, stats } = makeClient(server.url, user);

    const { data } = await client.query({ query: ME, fetchPolicy: 'network-only' });
    assert.equal(data.me.username, user.username);

    const { data: loggedOut } = await client.mutate({ mutation: LOGOUT });
    assert.equal(loggedOut.logout, true);

    let caught;
    try {
      const result = await client.query({ query: ME, fetchPolicy: 'network-only' });
      caught = result.error; // in case the error policy returns it instead of throwing
    } catch (error) {
      caught = error;
    }
    assert.ok(caught, 'the query with the old token must fail');
    assert.ok(CombinedGraphQLErrors.is(caught), `expected CombinedGraphQLErrors, got ${caught?.constructor?.name}: ${caught}`);
    assert.equal(caught.errors[0].extensions.code, 'TOKEN_REVOKED');
    assert.equal(stats.refreshes, 0, 'a revoked token is not refreshed');
  });
});

describe('Apollo Client 4 against a server with --access-token-ttl=2s', () => {
  let server;

  before(async () => {
    server = await startServer({ args: ['--access-token-ttl=2s'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('TOKEN_EXPIRED is answered inside an ErrorLink: refresh once, retry, data arrives', async () => {
    const user = await registerAndLogin(server.url, 'sleeper');
    assert.equal(user.expiresIn, 2);
    const { client, store, stats } = makeClient(server.url, user);
    const firstAccessToken = store.accessToken;

    const fresh = await client.query({ query: ME, fetchPolicy: 'network-only' });
    assert.equal(fresh.data.me.username, user.username);
    assert.equal(stats.refreshes, 0);

    await sleep(3_000);

    // Check that the token really has expired (not just assumed): the server says so.
    const direct = await rawGraphql(server.url, '{ me { id } }', {}, { token: firstAccessToken });
    assert.equal(direct.errors?.[0]?.extensions?.code, 'TOKEN_EXPIRED');

    stats.requests.length = 0;
    const { data, error } = await client.query({ query: ME, fetchPolicy: 'network-only' });
    assert.equal(error, undefined);
    assert.deepEqual(data.me, { __typename: 'User', id: user.userId, username: user.username });
    assert.equal(stats.refreshes, 1, 'the refresh happened exactly once');
    assert.notEqual(store.accessToken, firstAccessToken, 'a new access token was stored');
    assert.notEqual(store.refreshToken, user.refreshToken, 'the refresh token was rotated');
    assert.deepEqual(
      stats.requests.map((r) => r.authorization),
      [`Bearer ${firstAccessToken}`, `Bearer ${store.accessToken}`],
      'the operation went out with the expired token, then once more with the new one',
    );
  });
});
