import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const BIN = path.join(REPO_ROOT, 'bin', 'steno.js');

/** One line of `--json` output: an API event (`type`) or a command's result (no `type`). */
export type CliEvent = { type?: string } & Record<string, unknown>;

/** What the end of a recording reported (recording.finished or recording.failed), flattened. */
export interface RecordingEnd {
  state: string;
  durationS: number;
  capturedS: number;
  droppedFrames: number;
  reason: string | undefined;
  error: { code: string; message: string; action: string } | undefined;
}

/** A waitFor predicate: recording progress past `seconds`. */
export const progressPast =
  (seconds: number) =>
  (e: CliEvent): boolean =>
    e.type === 'recording.progress' && Number(e.elapsedS) > seconds;

/**
 * A running `steno` command. Its stdout JSON lines (with --json) are collected
 * as events; any other stdout line fails the parse (stdout carries Steno's
 * own lines only: native libraries' output goes to the log).
 */
export class StenoProcess {
  readonly child: ChildProcess;
  readonly events: CliEvent[] = [];
  /** Stdout lines that are not JSON objects: with --json there must be none. */
  readonly strayStdout: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (e: CliEvent) => boolean; resolve: (e: CliEvent) => void }[] = [];

  constructor(
    args: string[],
    env: NodeJS.ProcessEnv = {},
    opts: { stdin?: 'pipe' | 'ignore' } = {},
  ) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) {
        if (this.strayStdout.length < 100) this.strayStdout.push(line);
        return;
      }
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

  last(type: string): CliEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--)
      if (this.events[i]!.type === type) return this.events[i];
    return undefined;
  }

  /** The recording as it started: id, audio path, device. */
  started(): { id: string; audioPath: string; device: string } | undefined {
    const e = this.events.find((x) => x.type === 'recording.state');
    return e?.recording as { id: string; audioPath: string; device: string } | undefined;
  }

  /** How the recording ended, or undefined if it has not. */
  ended(): RecordingEnd | undefined {
    return recordingEnd(this.events);
  }
}

export function recordingEnd(events: CliEvent[]): RecordingEnd | undefined {
  const e = [...events]
    .reverse()
    .find((x) => x.type === 'recording.finished' || x.type === 'recording.failed');
  if (!e) return undefined;
  const recording = e.recording as { state: string; durationS: number };
  const stats = e.stats as { capturedS: number; framesDropped: number };
  return {
    state: recording.state,
    durationS: recording.durationS,
    capturedS: stats.capturedS,
    droppedFrames: stats.framesDropped,
    reason: e.reason as string | undefined,
    error: e.error as RecordingEnd['error'],
  };
}

/** Runs a command to completion. */
export async function runSteno(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{
  code: number | null;
  events: CliEvent[];
  stderr: string;
  stdout: string;
  strayStdout: string[];
}> {
  const p = new StenoProcess(args, env);
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const { code } = await p.exited;
  return { code, events: p.events, stderr: p.stderr, stdout, strayStdout: p.strayStdout };
}
