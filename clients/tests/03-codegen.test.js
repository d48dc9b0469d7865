// graphql-codegen: the same operations generated from ../schema.graphql and from the live
// server must give identical files; the TypedDocumentNodes must type-check (strict) in a small
// graphql-request client, and wrong uses of them must not.

import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { bin, run } from '../lib/run.js';
import { CLIENTS_DIR, startServer } from '../lib/server.js';

const GENERATED = join(CLIENTS_DIR, 'generated');
const FROM_FILE = join(GENERATED, 'from-file');
const FROM_SERVER = join(GENERATED, 'from-server');
const FROM_SERVER_URLLOADER = join(GENERATED, 'from-server-urlloader');
const TYPED_JS = join(GENERATED, 'typed-js');

const DATETIME_COMMENT = [
  '  /**',
  '   * Implement the DateTime<Utc> scalar',
  '   *',
  '   * The input/output is a string in RFC3339 format.',
  '   */',
  '',
].join('\n');

async function codegen(config, env = {}) {
  const result = await run(bin('graphql-codegen'), ['--config', config], { env });
  assert.equal(result.code, 0, `graphql-codegen --config ${config} failed:\n${result.output}`);
  return result;
}

async function tsc(args) {
  return run(bin('tsc'), ['--pretty', 'false', ...args]);
}

async function filesOf(dir) {
  return (await readdir(dir)).sort();
}

describe('graphql-codegen and a strictly typed client', () => {
  let server;

  before(async () => {
    server = await startServer();
    for (const dir of [FROM_FILE, FROM_SERVER, FROM_SERVER_URLLOADER, TYPED_JS]) {
      await rm(dir, { recursive: true, force: true });
    }
  });
  after(async () => {
    await server?.stop();
  });

  test('generates from ../schema.graphql', async () => {
    await codegen('codegen.yml');
    assert.deepEqual(await filesOf(FROM_FILE), ['graphql.ts', 'schema-types.ts']);
    const operations = await readFile(join(FROM_FILE, 'graphql.ts'), 'utf8');
    for (const name of ['Register', 'Login', 'Refresh', 'Logout', 'Me', 'CreateRecipe', 'PublishRecipe', 'Recipe', 'PublishedRecipes', 'MyRecipes']) {
      assert.match(operations, new RegExp(`export const ${name}Document = .* as unknown as DocumentNode<`), name);
    }
    assert.match(operations, /import type \{ TypedDocumentNode as DocumentNode \} from '@graphql-typed-document-node\/core'/);
    const schemaTypes = await readFile(join(FROM_FILE, 'schema-types.ts'), 'utf8');
    // Descriptions from the schema travel into the types.
    assert.match(schemaTypes, /\/\*\* The caller's own account \(needs an access token\)\. \*\/\n  me: User;/);
  });

  test('generates from the live server (introspection)', async () => {
    await codegen('codegen.live.yml', { SMILECOOK_GRAPHQL_URL: server.url });
    assert.deepEqual(await filesOf(FROM_SERVER), ['graphql.ts', 'schema-types.ts']);
    assert.deepEqual(await filesOf(FROM_SERVER_URLLOADER), ['graphql.ts', 'schema-types.ts']);
  });

  test('the two generated outputs are identical byte for byte', async () => {
    for (const name of await filesOf(FROM_FILE)) {
      const fromFile = await readFile(join(FROM_FILE, name));
      const fromServer = await readFile(join(FROM_SERVER, name));
      assert.ok(fromFile.equals(fromServer), `generated/from-file/${name} and generated/from-server/${name} differ`);
    }
  });

  test("codegen's built-in URL loader differs only by the DateTime description it cannot see", async () => {
    // graphql-codegen prints a scalar's description in `Scalars` only for SDL-built schemas
    // (it checks `astNode`), so its own URL loader drops this comment. Anything else that
    // differs would be a real difference between the live schema and schema.graphql.
    const fromFile = await readFile(join(FROM_FILE, 'schema-types.ts'), 'utf8');
    const builtIn = await readFile(join(FROM_SERVER_URLLOADER, 'schema-types.ts'), 'utf8');
    assert.ok(fromFile.includes(DATETIME_COMMENT), 'the DateTime description is in the SDL-based output');
    assert.equal(builtIn, fromFile.replace(DATETIME_COMMENT, ''));
    assert.equal(
      await readFile(join(FROM_SERVER_URLLOADER, 'graphql.ts'), 'utf8'),
      await readFile(join(FROM_FILE, 'graphql.ts'), 'utf8'),
    );
  });

  test('tsc --noEmit (strict) accepts the typed client and every needed @ts-expect-error', async () => {
    const result = await tsc(['-p', 'typed/tsconfig.json']);
    assert.equal(result.code, 0, `tsc reported errors:\n${result.output}`);
  });

  test('wrong uses of the generated documents fail to type-check', async () => {
    // The same file without its @ts-expect-error directives must give one error on each of
    // the lines they covered, and none elsewhere.
    const source = await readFile(join(CLIENTS_DIR, 'typed', 'wrong-usage.ts'), 'utf8');
    const lines = source.split('\n');
    const expectedLines = [];
    const stripped = lines.map((line, index) => {
      if (/^\s*\/\/ @ts-expect-error/.test(line)) {
        expectedLines.push(index + 2); // 1-based number of the next line
        return line.replace('@ts-expect-error', 'was @ts-expect-error');
      }
      return line;
    });
    assert.ok(expectedLines.length >= 5, 'wrong-usage.ts holds several deliberate errors');

    // generated/ sits beside typed/, so the file's '../generated/...' imports still resolve.
    await writeFile(join(GENERATED, 'wrong-usage.stripped.ts'), stripped.join('\n'));
    await writeFile(
      join(GENERATED, 'tsconfig.negative.json'),
      JSON.stringify({ extends: '../typed/tsconfig.json', include: ['wrong-usage.stripped.ts'] }, null, 2),
    );
    const result = await tsc(['-p', 'generated/tsconfig.negative.json']);
    assert.notEqual(result.code, 0, 'tsc must fail on the wrong usages');
    const errorLines = [
      ...result.stdout.matchAll(/wrong-usage\.stripped\.ts\((\d+),\d+\): error TS\d+/g),
    ].map((match) => Number(match[1]));
    assert.ok(errorLines.length > 0, `no errors parsed from:\n${result.output}`);
    assert.deepEqual(
      [...new Set(errorLines)].sort((a, b) => a - b),
      expectedLines,
      `tsc output:\n${result.stdout}`,
    );
  });

  test('the typed client, compiled by tsc, works against the live server', async () => {
    const emit = await tsc(['-p', 'typed/tsconfig.json', '--noEmit', 'false', '--outDir', 'generated/typed-js']);
    assert.equal(emit.code, 0, emit.output);
    const { SmilecookClient, errorCode } = await import(pathToFileURL(join(TYPED_JS, 'typed', 'client.js')).href);

    const client = new SmilecookClient(server.url);
    const session = await client.signUp('typed_ada', 'typed_ada@example.com', 'correct horse battery');
    assert.equal(await client.whoAmI(session), 'typed_ada');

    const ids = [];
    for (const [name, cookTime] of [['Slow stew', 90], ['Quick salad', 5], ['Pasta', 15]]) {
      ids.push(await client.publish(session, { name, numOfServings: 2, cookTime }));
    }
    assert.equal(await client.title(ids[0]), 'Slow stew');

    const byCookTime = await client.allRecipes(2, 'COOK_TIME');
    assert.deepEqual(byCookTime.map((recipe) => recipe.name), ['Quick salad', 'Pasta', 'Slow stew']);
    assert.deepEqual(byCookTime.map((recipe) => recipe.cookTime), [5, 15, 90]);

    let caught;
    try {
      await client.whoAmI({ ...session, accessToken: 'not-a-token' });
    } catch (error) {
      caught = error;
    }
    assert.equal(errorCode(caught), 'UNAUTHENTICATED');
  });
});
