// graphql-request 7: the happy path of an app, and every error code read where
// graphql-request exposes it (ClientError.response.errors[0].extensions).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClientError, GraphQLClient, gql } from 'graphql-request';

import { sleep, startServer } from '../lib/server.js';

const REGISTER = gql`
  mutation Register($input: RegisterInput!) {
    register(input: $input) { id username email }
  }
`;
const LOGIN = gql`
  mutation Login($input: LoginInput!) {
    login(input: $input) { accessToken refreshToken tokenType expiresIn user { id username } }
  }
`;
const ME = gql`
  query Me { me { id username email } }
`;
const CREATE_RECIPE = gql`
  mutation CreateRecipe($input: CreateRecipeInput!) {
    createRecipe(input: $input) { id name isPublish author { username } }
  }
`;
const PUBLISH_RECIPE = gql`
  mutation PublishRecipe($id: ID!) { publishRecipe(id: $id) { id isPublish } }
`;
const RECIPES = gql`
  query Recipes($first: Int, $search: String) {
    recipes(first: $first, search: $search) {
      totalCount
      edges { cursor node { id name description isPublish author { username } } }
      pageInfo { endCursor hasNextPage }
    }
  }
`;
const RECIPE = gql`
  query Recipe($id: ID!) { recipe(id: $id) { id name isPublish } }
`;
const UPDATE_RECIPE = gql`
  mutation UpdateRecipe($id: ID!, $input: UpdateRecipeInput!) {
    updateRecipe(id: $id, input: $input) { id name }
  }
`;
const LOGOUT = gql`
  mutation Logout { logout }
`;

/** Runs `fn`, expects it to throw a ClientError, and returns that error's first GraphQL error. */
async function firstError(fn) {
  let caught;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, 'expected the request to fail');
  assert.ok(caught instanceof ClientError, `expected a ClientError, got ${caught}`);
  assert.ok(Array.isArray(caught.response.errors) && caught.response.errors.length > 0, 'errors array');
  return caught.response.errors[0];
}

function deepQuery(levels) {
  // Each level adds recipes > edges > node > author: 4 levels of nesting.
  let selection = 'id';
  for (let i = 0; i < levels; i += 1) {
    selection = `recipes(first: 1) { edges { node { author { ${selection} } } } }`;
  }
  return `query TooDeep { ${selection} }`;
}

let counter = 0;
function newUser(prefix) {
  counter += 1;
  const username = `${prefix}${counter}_${process.pid}`;
  return { username, email: `${username}@example.com`, password: 'correct horse battery' };
}

async function registerAndLogin(client, prefix) {
  const user = newUser(prefix);
  const { register } = await client.request(REGISTER, { input: user });
  const { login } = await client.request(LOGIN, { input: { login: user.username, password: user.password } });
  return { ...user, id: register.id, login };
}

function authed(url, token) {
  return new GraphQLClient(url, { headers: { Authorization: `Bearer ${token}` } });
}

describe('graphql-request against the default server', () => {
  let server;
  let client;

  before(async () => {
    server = await startServer();
    client = new GraphQLClient(server.url);
  });
  after(async () => {
    await server?.stop();
  });

  test('register, login, create and publish a recipe, read it back in recipes', async () => {
    const user = newUser('ada');
    const { register } = await client.request(REGISTER, { input: user });
    assert.equal(register.username, user.username);
    assert.equal(register.email, user.email);

    const { login } = await client.request(LOGIN, { input: { login: user.username, password: user.password } });
    assert.equal(login.tokenType, 'Bearer');
    assert.equal(login.user.id, register.id);
    assert.ok(login.expiresIn > 0);
    assert.match(login.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    const me = authed(server.url, login.accessToken);
    const { me: profile } = await me.request(ME);
    assert.deepEqual(profile, { id: register.id, username: user.username, email: user.email });

    const { createRecipe } = await me.request(CREATE_RECIPE, {
      input: { name: '  Tomato soup  ', description: 'Warm and red', numOfServings: 4, cookTime: 30 },
    });
    assert.equal(createRecipe.name, 'Tomato soup', 'text is trimmed');
    assert.equal(createRecipe.isPublish, false, 'a new recipe is a draft');
    assert.equal(createRecipe.author.username, user.username);

    // A draft is not listed publicly yet.
    const before = await client.request(RECIPES, { first: 10, search: 'Tomato soup' });
    assert.equal(before.recipes.totalCount, 0);

    const { publishRecipe } = await me.request(PUBLISH_RECIPE, { id: createRecipe.id });
    assert.deepEqual(publishRecipe, { id: createRecipe.id, isPublish: true });

    // Read back without a token: the public listing.
    const { recipes } = await client.request(RECIPES, { first: 10 });
    assert.equal(recipes.totalCount, 1);
    assert.equal(recipes.edges.length, 1);
    assert.deepEqual(recipes.edges[0].node, {
      id: createRecipe.id,
      name: 'Tomato soup',
      description: 'Warm and red',
      isPublish: true,
      author: { username: user.username },
    });
    assert.equal(recipes.pageInfo.hasNextPage, false);
    assert.equal(recipes.pageInfo.endCursor, recipes.edges[0].cursor);
  });

  test('UNAUTHENTICATED: `me` without a token', async () => {
    const error = await firstError(() => client.request(ME));
    assert.equal(error.extensions.code, 'UNAUTHENTICATED');
    assert.deepEqual(error.path, ['me']);
  });

  test('BAD_USER_INPUT with `field`: a short password at register', async () => {
    const user = newUser('short');
    const error = await firstError(() => client.request(REGISTER, { input: { ...user, password: 'short' } }));
    assert.equal(error.extensions.code, 'BAD_USER_INPUT');
    assert.equal(error.extensions.field, 'password');
  });

  test('BAD_USER_INPUT with `field`: an invalid username at register', async () => {
    const error = await firstError(() =>
      client.request(REGISTER, { input: { username: 'no spaces!', email: 'x@example.com', password: 'long enough' } }),
    );
    assert.equal(error.extensions.code, 'BAD_USER_INPUT');
    assert.equal(error.extensions.field, 'username');
  });

  test("NOT_FOUND or FORBIDDEN: touching another user's recipe", async () => {
    const owner = await registerAndLogin(client, 'owner');
    const other = await registerAndLogin(client, 'other');
    const ownerClient = authed(server.url, owner.login.accessToken);
    const otherClient = authed(server.url, other.login.accessToken);

    const { createRecipe } = await ownerClient.request(CREATE_RECIPE, {
      input: { name: 'Secret stew', numOfServings: 2, cookTime: 45 },
    });

    // Someone else's draft is invisible: `recipe` answers null.
    const { recipe } = await otherClient.request(RECIPE, { id: createRecipe.id });
    assert.equal(recipe, null);

    // Changing it is refused with a code.
    const updateError = await firstError(() =>
      otherClient.request(UPDATE_RECIPE, { id: createRecipe.id, input: { name: 'Stolen stew' } }),
    );
    assert.ok(
      ['NOT_FOUND', 'FORBIDDEN'].includes(updateError.extensions.code),
      `updateRecipe on another user's draft: ${JSON.stringify(updateError)}`,
    );

    // Same once it is published (now visible, still not theirs).
    await ownerClient.request(PUBLISH_RECIPE, { id: createRecipe.id });
    const publishError = await firstError(() =>
      otherClient.request(UPDATE_RECIPE, { id: createRecipe.id, input: { name: 'Stolen stew' } }),
    );
    assert.ok(
      ['NOT_FOUND', 'FORBIDDEN'].includes(publishError.extensions.code),
      `updateRecipe on another user's published recipe: ${JSON.stringify(publishError)}`,
    );
    const { recipe: unchanged } = await client.request(RECIPE, { id: createRecipe.id });
    assert.equal(unchanged.name, 'Secret stew');
  });

  test('TOKEN_REVOKED: the access token after logout', async () => {
    const user = await registerAndLogin(client, 'bye');
    const userClient = authed(server.url, user.login.accessToken);
    assert.equal((await userClient.request(ME)).me.username, user.username);

    const { logout } = await userClient.request(LOGOUT);
    assert.equal(logout, true);

    const error = await firstError(() => userClient.request(ME));
    assert.equal(error.extensions.code, 'TOKEN_REVOKED');
  });

  test('QUERY_TOO_DEEP: a data query nested past the default depth of 12', async () => {
    let caught;
    try {
      await client.request(deepQuery(4)); // 17 levels
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ClientError, `expected a ClientError, got ${caught}`);
    assert.equal(caught.response.errors[0].extensions.code, 'QUERY_TOO_DEEP');
    // graphql-request asks for application/graphql-response+json, so a request refused
    // before execution is answered with HTTP 400.
    assert.equal(caught.response.status, 400);
  });

  test('a data query within the depth limit runs', async () => {
    const data = await client.request(deepQuery(2)); // 9 levels
    assert.ok(Array.isArray(data.recipes.edges));
  });
});

describe('graphql-request against a server with --access-token-ttl=2s', () => {
  let server;
  let client;

  before(async () => {
    server = await startServer({ args: ['--access-token-ttl=2s'] });
    client = new GraphQLClient(server.url);
  });
  after(async () => {
    await server?.stop();
  });

  test('TOKEN_EXPIRED after the access token lifetime', async () => {
    const user = await registerAndLogin(client, 'late');
    assert.equal(user.login.expiresIn, 2);
    const userClient = authed(server.url, user.login.accessToken);
    assert.equal((await userClient.request(ME)).me.username, user.username);

    await sleep(3_000);

    const error = await firstError(() => userClient.request(ME));
    assert.equal(error.extensions.code, 'TOKEN_EXPIRED');
  });
});
