// Automatic persisted queries as Apollo Client 4 sends them (PersistedQueryLink): a miss is
// answered PERSISTED_QUERY_NOT_FOUND and the link retries with the text; afterwards the hash
// alone, over GET, is answered, with the caching headers of a public answer.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

import { createPublishedRecipe, registerAndLogin, startServer } from '../lib/server.js';

const PAGE = gql`
  query PersistedPage($first: Int) {
    recipes(first: $first) { totalCount edges { node { name } } }
  }
`;

function makeClient(url) {
  const wire = [];
  const http = new HttpLink({
    uri: url,
    fetch: async (input, init) => {
      const target = new URL(typeof input === 'string' ? input : input.url);
      const body = init?.body ? JSON.parse(init.body) : null;
      const sentText = body ? Boolean(body.query) : target.searchParams.has('query');
      const response = await fetch(input, init);
      wire.push({
        method: init?.method ?? 'GET',
        sentText,
        status: response.status,
        cacheControl: response.headers.get('cache-control'),
        etag: response.headers.get('etag'),
      });
      return response;
    },
  });
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash('sha256').update(text).digest('hex'),
    useGETForHashedQueries: true,
  });
  const client = new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
  return { client, wire };
}

describe('automatic persisted queries with Apollo Client 4', () => {
  let server;

  before(async () => {
    server = await startServer();
    const { accessToken } = await registerAndLogin(server.url, 'apq');
    await createPublishedRecipe(server.url, accessToken, { name: 'Persisted soup' });
  });
  after(async () => {
    await server?.stop();
  });

  test('a miss is retried with the text; then the hash alone is answered over GET, cacheably', async () => {
    const first = makeClient(server.url);
    const { data } = await first.client.query({ query: PAGE, variables: { first: 5 } });
    assert.equal(data.recipes.totalCount, 1);
    assert.deepEqual(
      first.wire.map((r) => [r.method, r.sentText]),
      [['GET', false], ['POST', true]],
      'the hash alone, refused as unknown, then the hash with the text',
    );

    // Another client (another browser): the server knows the hash now.
    const second = makeClient(server.url);
    const again = await second.client.query({ query: PAGE, variables: { first: 5 } });
    assert.equal(again.data.recipes.edges[0].node.name, 'Persisted soup');
    assert.equal(second.wire.length, 1, 'one request: the hash alone');
    const [only] = second.wire;
    assert.deepEqual([only.method, only.sentText, only.status], ['GET', false, 200]);
    assert.match(only.cacheControl ?? '', /^public, max-age=\d+$/);
    assert.ok(only.etag, 'an entity tag for revalidation');
  });
});
