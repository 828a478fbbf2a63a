/** Runs the built CLI as a child process, the way users and cron do. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeAlpaca } from './fake-alpaca.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'ingest.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix = 'de-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Environment pointing the real client at the fake; no settings.ini from the repo unless asked. */
export function fakeEnv(fake: FakeAlpaca, extra: Record<string, string> = {}): Record<string, string> {
  return {
    APCA_API_KEY_ID: fake.keyId,
    APCA_API_SECRET_KEY: fake.secretKey,
    APCA_API_DATA_URL: fake.url,
    APCA_API_BASE_URL: fake.url,
    ...extra,
  };
}

export interface StartedCli {
  child: ChildProcess;
  done: Promise<CliResult>;
  /**
   * Resolves with the stdout so far once it matches `pattern`; rejects if the process ends first.
   * For tests that must act on an observable state of the run, never after a fixed sleep.
   */
  stdoutMatches(pattern: RegExp): Promise<string>;
}

export function startCli(args: string[], env: Record<string, string> = {}, cwd?: string): StartedCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: cwd ?? tempDir('de-cwd-'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const check of watchers) check();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const stdoutMatches = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pattern.test(stdout)) return;
        watchers.delete(check);
        resolve(stdout);
      };
      watchers.add(check);
      check();
      void done.then((r) => {
        if (!watchers.delete(check)) return;
        reject(new Error(`the CLI ended (code ${r.code}, signal ${r.signal}) before its stdout matched ${pattern}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`));
      });
    });
  return { child, done, stdoutMatches };
}

export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return startCli(args, env, cwd).done;
}

/** Every file below a directory, recursively (relative paths). */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}
