// graphql-inspector: the live schema (introspected from the server) against ../schema.graphql,
// and the operations of operations/*.graphql validated against both.

import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CriticalityLevel, diff, validate } from '@graphql-inspector/core';
import {
  Source,
  buildClientSchema,
  buildSchema,
  printSchema,
} from 'graphql';

import { introspect } from '../lib/introspection-loader.js';
import { bin, run } from '../lib/run.js';
import { CLIENTS_DIR, SCHEMA_FILE, startServer } from '../lib/server.js';

const GENERATED = join(CLIENTS_DIR, 'generated');
const LIVE_SDL = join(GENERATED, 'live-schema.graphql');

// graphql-inspector's own URL loader builds the schema from introspection without AST
// nodes and without asking for `specifiedByURL`, while its diff reads directive usages from
// AST nodes: so `@specifiedBy` on DateTime, present in schema.graphql, always shows up as
// "added". That line is the only one the direct URL diff may print.
const URL_DIFF_ARTEFACTS = ['Directive specifiedBy was added to scalar DateTime'];

function inspector(args) {
  return run(bin('graphql-inspector'), args);
}

/** The change lines that `graphql-inspector diff` printed. */
function changeLines(output) {
  return output
    .split('\n')
    .map((line) => line.replace(/^\[log\]\s*/, '').trim())
    .filter((line) => /^(✖|⚠|✔)\s/.test(line))
    .map((line) => line.replace(/^(✖|⚠|✔)\s+/, ''));
}

async function operationSources() {
  const dir = join(CLIENTS_DIR, 'operations');
  const names = (await readdir(dir)).filter((name) => name.endsWith('.graphql')).sort();
  assert.ok(names.length > 0);
  return Promise.all(names.map(async (name) => new Source(await readFile(join(dir, name), 'utf8'), name)));
}

describe('graphql-inspector', () => {
  let server;
  let fileSchema;
  let liveSchema;

  before(async () => {
    server = await startServer();
    fileSchema = buildSchema(await readFile(SCHEMA_FILE, 'utf8'));
    // The live schema as SDL, through graphql-js's standard introspection query.
    const liveSdl = printSchema(buildClientSchema(await introspect(server.url)));
    await mkdir(GENERATED, { recursive: true });
    await writeFile(LIVE_SDL, `${liveSdl}\n`);
    liveSchema = buildSchema(liveSdl);
  });
  after(async () => {
    await server?.stop();
  });

  test('diff (core): the introspected live schema and ../schema.graphql have no changes', async () => {
    const changes = await diff(liveSchema, fileSchema);
    assert.deepEqual(changes.map((change) => change.message), []);
  });

  test('diff (CLI): the live schema written as SDL and ../schema.graphql, "No changes detected"', async () => {
    const result = await inspector(['diff', LIVE_SDL, SCHEMA_FILE]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /No changes detected/);
    assert.deepEqual(changeLines(result.output), []);
  });

  test('diff (CLI): the server URL itself and ../schema.graphql, no breaking change and nothing real', async () => {
    const result = await inspector(['diff', server.url, SCHEMA_FILE]);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /Detected \d+ breaking change/);
    const lines = changeLines(result.output);
    const counted = /Detected the following changes \((\d+)\)/.exec(result.output);
    assert.equal(lines.length, counted ? Number(counted[1]) : 0, `every change line is read:\n${result.output}`);
    const unexpected = lines.filter((line) => !URL_DIFF_ARTEFACTS.includes(line));
    assert.deepEqual(unexpected, [], result.output);
  });

  test('diff notices a real difference (so the checks above can fail)', async () => {
    const sdl = await readFile(SCHEMA_FILE, 'utf8');
    const changed = sdl
      .replace(/\n\t"""\n\tThe caller's own account \(needs an access token\)\.\n\t"""\n\tme: User!/, '')
      .replace('first: Int = 20,', 'first: Int = 10,');
    assert.notEqual(changed, sdl, 'the edit applies');
    const changes = await diff(liveSchema, buildSchema(changed));
    const messages = changes.map((change) => change.message);
    assert.ok(messages.some((m) => /Field 'me' .*removed/.test(m)), messages.join('\n'));
    assert.ok(changes.some((change) => change.criticality.level === CriticalityLevel.Breaking));
    assert.ok(messages.some((m) => /first/.test(m) && /20/.test(m) && /10/.test(m)), messages.join('\n'));

    const changedFile = join(GENERATED, 'changed-schema.graphql');
    await writeFile(changedFile, changed);
    const result = await inspector(['diff', LIVE_SDL, changedFile]);
    assert.notEqual(result.code, 0, 'a breaking change fails the CLI');
    assert.match(result.output, /breaking change/);
    assert.match(result.output, /me/);
  });

  test('validate (CLI): operations/*.graphql against ../schema.graphql and against the live URL', async () => {
    for (const schema of [SCHEMA_FILE, server.url]) {
      const result = await inspector(['validate', 'operations/*.graphql', schema]);
      assert.equal(result.code, 0, `${schema}:\n${result.output}`);
      assert.match(result.output, /All documents are valid/);
    }
  });

  test('validate (core): operations/*.graphql have no errors', async () => {
    const invalid = validate(fileSchema, await operationSources());
    assert.deepEqual(
      invalid.map((doc) => `${doc.source.name}: ${doc.errors.map((e) => e.message).join('; ')}`),
      [],
    );
  });

  test('validate reports a deliberately invalid operation', async () => {
    const result = await inspector(['validate', 'invalid/*.graphql', SCHEMA_FILE]);
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /Detected 1 invalid document/);
    assert.match(result.output, /broken-operation\.graphql/);
    assert.match(result.output, /Cannot query field title on type Recipe/);
    assert.match(result.output, /Int cannot represent non-integer value/);

    const source = new Source(
      await readFile(join(CLIENTS_DIR, 'invalid', 'broken-operation.graphql'), 'utf8'),
      'broken-operation.graphql',
    );
    const [invalid, ...rest] = validate(fileSchema, [source]);
    assert.deepEqual(rest, []);
    assert.equal(invalid.source.name, 'broken-operation.graphql');
    assert.equal(invalid.errors.length, 2, invalid.errors.map((e) => e.message).join('\n'));
  });
});
