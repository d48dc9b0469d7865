// GraphiQL, served by the server, in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core). Every request to a host other than 127.0.0.1 is aborted and recorded: the
// page must not try any. Screenshots of each step go to artifacts/.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildSchema } from 'graphql';

import { launchBrowser } from '../lib/browser.js';
import {
  ARTIFACTS_DIR,
  createPublishedRecipe,
  rawGraphql,
  registerAndLogin,
  startServer,
} from '../lib/server.js';

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const HEADERS_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
const RESPONSE = '.graphiql-response .CodeMirror';
const RUN_BUTTON = '[aria-label="Execute query (Ctrl-Enter)"]';

const screenshot = (page, name) => page.screenshot({ path: join(ARTIFACTS_DIR, `graphiql-${name}.png`) });

/** The text of a CodeMirror 5 editor, through its instance. */
const editorValue = (page, selector) =>
  page.evaluate((sel) => document.querySelector(sel).CodeMirror.getValue(), selector);

/** Replaces an editor's text the way a person would: focus it, select all, type. */
async function typeInto(page, selector, text) {
  await page.locator(selector).click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // insertText types the whole string as one input, so CodeMirror's bracket auto-closing
  // (which acts on key presses) does not add a second `}` for every `{`.
  await page.keyboard.insertText(text);
  assert.equal(await editorValue(page, selector), text, `the editor ${selector} holds what was typed`);
  if (selector === QUERY_EDITOR) {
    // GraphiQL works out the operation name of the new text in a debounced handler (the same
    // one that saves the query); running before it has done so would send the previous
    // operation name. A person never types that fast; wait for the handler.
    await page.waitForFunction((value) => localStorage.getItem('graphiql:query') === value, text);
  }
}

/** Runs the query with Ctrl-Enter (or the run button) and returns the parsed result pane. */
async function runAndReadResult(page, { useButton = false } = {}) {
  await page.evaluate((sel) => document.querySelector(sel).CodeMirror.setValue(''), RESPONSE);
  if (useButton) {
    await page.locator(RUN_BUTTON).click();
  } else {
    await page.locator(QUERY_EDITOR).click();
    await page.keyboard.press('Control+Enter');
  }
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.CodeMirror?.getValue().trim().startsWith('{'),
    RESPONSE,
    { timeout: 60_000 },
  );
  return JSON.parse(await editorValue(page, RESPONSE));
}

describe('GraphiQL in headless Chromium', () => {
  let server;
  let user;
  let browser;
  let context;
  let page;
  const foreignRequests = [];
  const consoleMessages = [];
  const pageErrors = [];
  let documentResponse;

  before(async () => {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    server = await startServer();
    user = await registerAndLogin(server.url, 'browser');
    await createPublishedRecipe(server.url, user.accessToken, { name: 'Browser pancakes', cookTime: 20 });

    browser = await launchBrowser({ offHost: (url) => foreignRequests.push(url) });
    context = browser.context;
    // Record CSP violations from inside the page too (init scripts are not subject to CSP).
    await context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
      });
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => consoleMessages.push({ type: message.type(), text: message.text() }));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('opening /graphql as a browser would: GraphiQL renders, served by the server alone', async () => {
    documentResponse = await page.goto(server.url, { waitUntil: 'load' });
    assert.equal(documentResponse.status(), 200);
    assert.match(documentResponse.headers()['content-type'], /^text\/html/);
    const csp = documentResponse.headers()['content-security-policy'];
    assert.ok(csp, 'the page has a Content-Security-Policy');
    assert.doesNotMatch(csp, /https?:/, 'the policy names no other origin');

    await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
    await page.locator(`${QUERY_EDITOR}`).waitFor();
    await screenshot(page, '01-loaded');
    const bodyText = await page.locator('body').innerText();
    assert.doesNotMatch(bodyText, /Loading/);

    // The first tab holds the commented example query.
    const query = await editorValue(page, QUERY_EDITOR);
    assert.match(query, /^# /);
    assert.match(query, /query PublishedRecipes \{\n {2}recipes\(first: 5\)/);

    // The Headers pane is open at start.
    await page.locator(HEADERS_EDITOR).waitFor();
    assert.equal((await page.locator('.graphiql-editor-tools button.active').innerText()).trim(), 'Headers');
  });

  test('the docs explorer lists the Query fields with their descriptions', async () => {
    await page.locator('[aria-label="Show Documentation Explorer"]').click();
    const explorer = page.locator('.graphiql-doc-explorer');
    await explorer.waitFor();
    await explorer.locator('a.graphiql-doc-explorer-type-name', { hasText: /^Query$/ }).first().click();
    await explorer.locator('.graphiql-doc-explorer-title', { hasText: /^Query$/ }).waitFor();
    await screenshot(page, '02-docs-query');

    const fields = {};
    for (const item of await explorer.locator('.graphiql-doc-explorer-item').all()) {
      const name = (await item.locator('a.graphiql-doc-explorer-field-name').first().innerText()).trim();
      const description = (await item.locator('.graphiql-markdown-description').innerText().catch(() => '')).trim();
      fields[name] = description.replace(/\s+/g, ' ');
    }
    // Every field of the checked-in schema's Query, and nothing else.
    const sdl = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    const queryFields = Object.keys(buildSchema(sdl).getQueryType().getFields()).sort();
    assert.ok(queryFields.includes('recipes') && queryFields.includes('me'), queryFields.join());
    assert.deepEqual(Object.keys(fields).sort(), queryFields);
    assert.equal(fields.me, "The caller's own account (needs an access token).");
    assert.match(fields.recipes, /^Published recipes, newest first unless orderBy says otherwise\./);
    assert.equal(fields.myRecipes, 'The caller\'s recipes, newest first (needs an access token).');

    await page.locator('[aria-label="Hide Documentation Explorer"]').click();
  });

  test('a query typed into the editor and run shows data in the result pane', async () => {
    await typeInto(page, QUERY_EDITOR, '{ recipes(first: 1) { totalCount } }');
    const viaKeys = await runAndReadResult(page);
    await screenshot(page, '03-query-result');
    assert.deepEqual(viaKeys, { data: { recipes: { totalCount: 1 } } });

    const viaButton = await runAndReadResult(page, { useButton: true });
    assert.deepEqual(viaButton, { data: { recipes: { totalCount: 1 } } });
  });

  test('a token in the Headers pane makes `me` answer the username', async () => {
    await typeInto(page, QUERY_EDITOR, '{ me { username } }');
    const anonymous = await runAndReadResult(page);
    assert.equal(anonymous.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(anonymous));

    await typeInto(page, HEADERS_EDITOR, JSON.stringify({ Authorization: `Bearer ${user.accessToken}` }));
    const result = await runAndReadResult(page);
    await screenshot(page, '04-headers-me');
    assert.deepEqual(result, { data: { me: { username: user.username } } });

    // Headers are not persisted unless switched on in the settings: the token is not in
    // the browser's storage.
    const stored = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
    assert.ok(stored.includes('graphiql:'), 'GraphiQL does use localStorage for other state');
    assert.ok(!stored.includes(user.accessToken), 'the access token is not stored');
  });

  test('a subscription run in GraphiQL shows the events as they come (over its WebSocket)', async () => {
    await typeInto(page, QUERY_EDITOR, 'subscription { recipePublished { name } }');
    await page.evaluate((sel) => document.querySelector(sel).CodeMirror.setValue(''), RESPONSE);
    // GraphiQL opens its WebSocket on the first subscription; publish once it has subscribed.
    const subscribed = new Promise((resolve) => {
      page.on('websocket', (socket) =>
        socket.on('framesent', (frame) => {
          if (String(frame.payload).includes('"subscribe"')) resolve();
        }),
      );
    });
    await page.locator(QUERY_EDITOR).click();
    await page.keyboard.press('Control+Enter');
    await subscribed;
    // The frame is sent before the server's subscription is in place: publish until the event
    // shows (each publication is one more `Live pancakes`), rather than after a guessed pause.
    const shown = (sel) => document.querySelector(sel)?.CodeMirror?.getValue().includes('Live pancakes');
    const deadline = Date.now() + 60_000;
    for (;;) {
      await createPublishedRecipe(server.url, user.accessToken, { name: 'Live pancakes', cookTime: 9 });
      const seen = await page.waitForFunction(shown, RESPONSE, { timeout: 1_000 }).then(() => true, () => false);
      if (seen) break;
      assert.ok(Date.now() < deadline, 'no event in the response pane within a minute');
    }
    await screenshot(page, '05-subscription');
    const result = JSON.parse(await editorValue(page, RESPONSE));
    assert.deepEqual(result, { data: { recipePublished: { name: 'Live pancakes' } } });
    await page.locator('[aria-label="Stop query (Ctrl-Enter)"]').click(); // ends the subscription
    await page.locator(RUN_BUTTON).waitFor();
  });

  test('a login run in GraphiQL gets tokens bound to the page\'s key: they work there, after a reload too, and nowhere else', async () => {
    const proofs = [];
    page.on('request', (request) => {
      const proof = request.headers()['dpop'];
      if (proof) proofs.push(proof);
    });
    await typeInto(
      page,
      QUERY_EDITOR,
      `mutation { login(input: { login: "${user.username}", password: "${user.password}" }) { accessToken tokenType } }`,
    );
    const login = await runAndReadResult(page);
    assert.equal(login.data?.login?.tokenType, 'DPoP', JSON.stringify(login));
    const token = login.data.login.accessToken;

    await typeInto(page, QUERY_EDITOR, '{ me { username } }');
    await typeInto(page, HEADERS_EDITOR, JSON.stringify({ Authorization: `DPoP ${token}` }));
    assert.deepEqual(await runAndReadResult(page), { data: { me: { username: user.username } } });
    await screenshot(page, '07-dpop-me');

    // Taken out of the page, the token is useless: without a proof, as Bearer, or with a proof
    // read off the page's own traffic (spent, and for the page's request).
    const me = '{ me { username } }';
    const stolen = {
      'without a proof': await rawGraphql(server.url, me, {}, { headers: { authorization: `DPoP ${token}` } }),
      'as Bearer': await rawGraphql(server.url, me, {}, { token }),
      'with a proof from the traffic': await rawGraphql(server.url, me, {}, {
        headers: { authorization: `DPoP ${token}`, dpop: proofs.at(-1) },
      }),
    };
    for (const [how, body] of Object.entries(stolen)) {
      assert.equal(body.errors?.[0]?.extensions?.code, 'INVALID_DPOP_PROOF', `${how}: ${JSON.stringify(body)}`);
    }
    // The page's private key cannot be read out of it.
    const exported = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const open = indexedDB.open('smilecook-dpop', 1);
          open.onsuccess = () => {
            const read = open.result.transaction('keys').objectStore('keys').get('graphiql');
            read.onsuccess = () =>
              crypto.subtle
                .exportKey('jwk', read.result.privateKey)
                .then(() => resolve('exported'), () => resolve('refused'));
          };
          open.onerror = () => resolve('no key store');
        }),
    );
    assert.equal(exported, 'refused');

    // After a reload the page signs with the same key: the token still works there.
    await page.reload({ waitUntil: 'load' });
    await page.locator(QUERY_EDITOR).waitFor();
    await typeInto(page, QUERY_EDITOR, '{ me { username } }');
    await typeInto(page, HEADERS_EDITOR, JSON.stringify({ Authorization: `DPoP ${token}` }));
    assert.deepEqual(await runAndReadResult(page), { data: { me: { username: user.username } } });
  });

  test('no Content-Security-Policy errors, no page errors, no request off 127.0.0.1', async () => {
    const cspMessages = consoleMessages.filter(({ text }) =>
      /Content[- ]Security[- ]Policy|Refused to (load|execute|apply|connect|frame)/i.test(text),
    );
    assert.deepEqual(cspMessages, []);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreignRequests, [], 'requests to other hosts were attempted');
    await screenshot(page, '06-final');
  });

  test('the CSP check above can fail: a resource from another origin is reported', async () => {
    // The page's own policy refuses an image from elsewhere before any request is made; the
    // listener installed before load must see it.
    await page.evaluate(() => {
      const img = document.createElement('img');
      img.src = 'https://cdn.example.com/pixel.png';
      document.body.append(img);
    });
    await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5_000 });
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.deepEqual(violations, ['img-src https://cdn.example.com/pixel.png']);
  });
});
