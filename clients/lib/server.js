// Starts and stops Smilecook server processes for the client tests.
//
// Every test file starts its own server on a free port with a fresh SQLite database and a
// random signing secret, so files never share state. The binary comes from SMILECOOK_BIN,
// defaulting to ../target/debug/smilecook relative to this folder (where CI builds it).

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLIENTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(CLIENTS_DIR, '..');
export const SCHEMA_FILE = join(REPO_DIR, 'schema.graphql');
export const ARTIFACTS_DIR = join(CLIENTS_DIR, 'artifacts');

const STARTUP_TIMEOUT_MS = 60_000;
const LOG_LINES_KEPT = 400;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+\/graphql)/;

/** The server binary: $SMILECOOK_BIN, or ../target/debug/smilecook beside this folder. */
export function serverBinary() {
  const configured = process.env.SMILECOOK_BIN;
  const bin = configured
    ? resolve(CLIENTS_DIR, configured)
    : resolve(CLIENTS_DIR, '../target/debug/smilecook');
  if (!existsSync(bin)) {
    throw new Error(
      `Smilecook server binary not found at ${bin}. Build it (cargo build) or point ` +
        'SMILECOOK_BIN at it.',
    );
  }
  return bin;
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a server. `args` are extra command-line flags (e.g. `--access-token-ttl=2s`),
 * `logLevel` its RUST_LOG. Resolves once the server logs its URL; the returned object has
 * `url` (the /graphql endpoint), `origin`, `dir` (its folder: the database, `mail/`), `logs()`
 * (the recent log lines), `allLogs()` (every line it wrote) and `stop()`.
 */
export async function startServer({ args = [], logLevel = 'info' } = {}) {
  const bin = serverBinary();
  const dir = await mkdtemp(join(tmpdir(), 'smilecook-clients-'));
  const jwtSecret = randomBytes(30).toString('base64url'); // 40 characters
  const databaseUrl = `sqlite://${join(dir, 'test.db')}?mode=rwc`;
  const serverArgs = [`--database-url=${databaseUrl}`, `--jwt-secret=${jwtSecret}`, ...args];
  const child = spawn(
    bin,
    ['--bind=127.0.0.1:0', ...serverArgs],
    {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', RUST_LOG: logLevel },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);

  const lines = [];
  const every = [];
  const keep = (line) => {
    every.push(line);
    lines.push(line);
    if (lines.length > LOG_LINES_KEPT) lines.shift();
  };
  // Both pipes are drained for the whole life of the process so that they never fill up.
  const stdout = createInterface({ input: child.stdout });
  createInterface({ input: child.stderr }).on('line', (line) => keep(`[stderr] ${line}`));

  let exited = false;
  const exitPromise = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true;
      running.delete(child);
      resolveExit({ code, signal });
    });
  });

  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not log its URL within ${STARTUP_TIMEOUT_MS} ms:\n${lines.join('\n')}`));
    }, STARTUP_TIMEOUT_MS);
    let found = false;
    stdout.on('line', (line) => {
      keep(line);
      const match = !found && LISTENING.exec(line);
      if (match) {
        found = true;
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${lines.join('\n')}`));
    });
  });

  return {
    url,
    origin: new URL(url).origin,
    dir,
    process: child,
    logs: () => lines.join('\n'),
    allLogs: () => every.join('\n'),
    /** Runs `smilecook keys <action...>` on this server's database and secret; its stdout. */
    keys: (...action) => runBinary(bin, ['keys', ...serverArgs, ...action], dir),
    /** Runs `smilecook clients <action...>` on this server's database; its stdout. */
    clients: (...action) => runBinary(bin, ['clients', `--database-url=${databaseUrl}`, ...action], dir),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exitPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the server binary to completion; resolves with its stdout, rejects with its stderr. */
function runBinary(bin, args, cwd) {
  return new Promise((resolveRun, reject) => {
    execFile(bin, args, { cwd, env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'warn' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`smilecook ${args[0]} failed: ${stderr}`));
      else resolveRun(stdout);
    });
  });
}

/**
 * A plain fetch-based GraphQL call, for setting up data independently of the client
 * library under test. Returns the parsed JSON body (with `status` added).
 */
export async function rawGraphql(url, query, variables = {}, { token, headers = {} } = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  return { status: response.status, ...body };
}

/** Like rawGraphql, but throws when the answer carries errors; returns `data`. */
export async function graphqlData(url, query, variables = {}, options = {}) {
  const body = await rawGraphql(url, query, variables, options);
  if (body.errors?.length) {
    throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  }
  return body.data;
}

let userCounter = 0;

/** Registers a fresh user and logs in; returns { username, email, password, ...tokens }. */
export async function registerAndLogin(url, prefix = 'user') {
  userCounter += 1;
  const username = `${prefix}_${process.pid}_${userCounter}`.slice(0, 30);
  const email = `${username}@example.com`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  await graphqlData(
    url,
    'mutation ($input: RegisterInput!) { register(input: $input) { id } }',
    { input: { username, email, password } },
  );
  const { login } = await graphqlData(
    url,
    'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresIn user { id } } }',
    { input: { login: username, password } },
  );
  return { username, email, password, userId: login.user.id, ...login };
}

/** Creates and publishes one recipe through plain fetch; returns its id. */
export async function createPublishedRecipe(url, token, input) {
  const { createRecipe } = await graphqlData(
    url,
    'mutation ($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }',
    { input: { description: '', numOfServings: 2, cookTime: 10, ...input } },
    { token },
  );
  await graphqlData(url, 'mutation ($id: ID!) { publishRecipe(id: $id) { id } }', { id: createRecipe.id }, { token });
  return createRecipe.id;
}

export const sleep = (ms) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
