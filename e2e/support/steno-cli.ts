import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.join(REPO_ROOT, 'bin', 'steno.js');

export type CliEvent = { event: string } & Record<string, unknown>;

/**
 * A running `steno` command. Its stdout JSON lines (with --json) are collected
 * as events; naudiodon's own printf lines on stdout are ignored.
 */
export class StenoProcess {
  readonly child: ChildProcess;
  readonly events: CliEvent[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (e: CliEvent) => boolean; resolve: (e: CliEvent) => void }[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const event = JSON.parse(line) as CliEvent;
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(event)) return true;
        w.resolve(event);
        return false;
      });
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      // Keep the tail only: ALSA prints a lot while PortAudio probes devices.
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** Resolves with the first event (past or future) matching `pred`. */
  waitFor(pred: (e: CliEvent) => boolean, timeoutMs = 20_000): Promise<CliEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`timed out waiting for an event; stderr tail:\n${this.stderr.slice(-2000)}`),
          ),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  last(name: string): CliEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--)
      if (this.events[i]!.event === name) return this.events[i];
    return undefined;
  }
}

/** Runs a command to completion. */
export async function runSteno(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; events: CliEvent[]; stderr: string; stdout: string }> {
  const p = new StenoProcess(args, env);
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const { code } = await p.exited;
  return { code, events: p.events, stderr: p.stderr, stdout };
}
