// The link in a password-reset mail, followed in headless Chromium as its reader would: it opens
// GraphiQL on the mutation, token filled in, ready for a new password; the token travels in the
// URL's fragment, so it is in no request the browser makes and in no line the server logs (at
// RUST_LOG=debug, where request headers are logged), it leaves the address bar and the
// history at once, and the browser's storage never holds it.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser } from '../lib/browser.js';
import { ARTIFACTS_DIR, graphqlData, rawGraphql, registerAndLogin, sleep, startServer } from '../lib/server.js';
const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const RESPONSE = '.graphiql-response .CodeMirror';
const NEW_PASSWORD = 'a password from the mail';

/** Quoted-printable undone: soft line breaks, then `=XX` escapes (bytes, read as UTF-8). */
function quotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i += 1) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The first mail in `dir` whose text includes `needle`, waited for (the worker writes it). */
async function mailIn(dir, needle) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const names = await readdir(dir).catch(() => []);
    for (const name of names.filter((n) => n.endsWith('.eml'))) {
      const text = quotedPrintable(await readFile(join(dir, name), 'utf8'));
      if (text.includes(needle)) return text;
    }
    await sleep(50);
  }
  throw new Error(`no mail with ${needle} in ${dir}`);
}

const editorValue = (page, selector) =>
  page.evaluate((sel) => document.querySelector(sel).CodeMirror.getValue(), selector);

describe('the mailed reset link, in headless Chromium', () => {
  let server;
  let browser;
  const requested = [];

  before(async () => {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    server = await startServer({ logLevel: 'debug' });
    browser = await launchBrowser({ offHost: (url) => requested.push(url) });
    browser.context.on('request', (request) => requested.push(request.url()));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('opens GraphiQL on the mutation with the token, which no request, log or storage holds', async () => {
    const user = await registerAndLogin(server.url, 'mailed');
    await graphqlData(server.url, 'mutation ($e: String!) { requestPasswordReset(email: $e) }', { e: user.email });
    const mail = await mailIn(join(server.dir, 'mail'), 'Reset your Smilecook password');
    const token = mail.split(/\r?\n/).map((l) => l.trim()).find((l) => /^[A-Za-z0-9_-]{43}$/.test(l));
    assert.ok(token, mail);
    const link = mail.split(/\s+/).find((word) => word.startsWith(`${server.origin}/graphql#query=`));
    assert.ok(link, `a link to this server's GraphiQL in:\n${mail}`);

    const page = await browser.context.newPage();
    const response = await page.goto(link, { waitUntil: 'load' });
    assert.equal(response.status(), 200, 'a browser following the link gets GraphiQL');
    await page.locator(QUERY_EDITOR).waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.CodeMirror?.getValue().includes('resetPassword'),
      QUERY_EDITOR,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'mailed-link-01-opened.png') });
    const mutation = await editorValue(page, QUERY_EDITOR);
    assert.equal(mutation, `mutation ResetPassword {\n  resetPassword(token: "${token}", newPassword: "")\n}`);

    // The fragment is gone from the address bar (and so from the history).
    assert.equal(page.url(), `${server.origin}/graphql`);
    assert.equal(await page.evaluate(() => window.location.hash), '');

    // The reader types a new password in and runs it.
    const typed = mutation.replace('newPassword: ""', `newPassword: "${NEW_PASSWORD}"`);
    await page.evaluate(([sel, text]) => document.querySelector(sel).CodeMirror.setValue(text), [QUERY_EDITOR, typed]);
    await page.locator(QUERY_EDITOR).click();
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.CodeMirror?.getValue().includes('resetPassword'),
      RESPONSE,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'mailed-link-02-reset.png') });
    assert.deepEqual(JSON.parse(await editorValue(page, RESPONSE)), { data: { resetPassword: true } });
    const login = await rawGraphql(server.url, 'mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
      i: { login: user.username, password: NEW_PASSWORD },
    });
    assert.ok(login.data?.login?.accessToken, JSON.stringify(login));

    // Nowhere but in the mail and in the mutation's body: not in any URL the browser asked
    // for, not in the browser's storage, not in the server's debug log.
    assert.ok(requested.length > 0);
    assert.deepEqual(requested.filter((url) => url.includes(token)), []);
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    assert.ok(!stored.includes(token), 'the token is in the browser storage');
    const logs = server.allLogs();
    assert.match(logs, /DEBUG/, 'the server logged at debug level');
    assert.ok(!logs.includes(token), 'the token is in the server log');
    await page.close();
  });
});
