// Runs a command of the clients folder (a node_modules/.bin tool) and collects its output.

import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { CLIENTS_DIR } from './server.js';

/** The path of an installed tool, e.g. bin('tsc'). */
export const bin = (name) => join(CLIENTS_DIR, 'node_modules', '.bin', name);

/**
 * Runs `command args` in the clients folder (or `cwd`); resolves to { code, stdout, stderr,
 * output } and never rejects on a non-zero exit: the tests assert on the code.
 */
export function run(command, args, { cwd = CLIENTS_DIR, env = {}, timeoutMs = 120_000 } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took longer than ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr, output: `${stdout}\n${stderr}` });
    });
  });
}
