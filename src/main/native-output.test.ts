import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../testing/tmp';
import { captureNativeOutput, readLogTail, type NativeOutputCapture } from './native-output';

const CHILD = path.resolve(import.meta.dirname, '../testing/native-output-child.ts');

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the child scenario with piped stdout/stderr. `pauseStdoutMs` leaves the
 * stdout pipe unread for that long (it fills, and the child's writes meet
 * EAGAIN); `closeStdoutAfterBytes` closes it once that much arrived (EPIPE).
 */
function runChild(
  config: Record<string, unknown>,
  io: { pauseStdoutMs?: number; closeStdoutAfterBytes?: number } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    if (io.pauseStdoutMs) {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), io.pauseStdoutMs);
    }
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      outBytes += d.length;
      if (io.closeStdoutAfterBytes !== undefined && outBytes >= io.closeStdoutAfterBytes)
        child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr }));
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

let dir: string;
let logPath: string;
beforeEach(() => {
  dir = makeTempDir('steno-native-output-');
  logPath = path.join(dir, 'logs', 'native.log');
});
afterEach(() => removeTempDir(dir));

describe('captureNativeOutput in a CLI process', () => {
  it('keeps ALSA and PortAudio output off stdout and stderr and puts it in the log', async () => {
    const r = await runChild({ scenario: 'devices', logPath, openInput: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^devices: [1-9]\d*\n$/);
    expect(r.stderr).toBe('');
    const log = fs.readFileSync(logPath, 'utf8');
    expect(lines(log).filter((l) => l.startsWith('ALSA lib')).length).toBeGreaterThan(10);
    // naudiodon's printf() to fd 1.
    expect(log).toContain('Input audio options: default device, sample rate 16000');
    // Everything else that writes to fds 1 and 2 lands there too.
    for (const line of [
      'node process.stdout line',
      'node console.error line',
      'child stdout line',
      'child stderr line',
    ])
      expect(log).toContain(line);
  });

  it('keeps native output in the log when the process exits with the capture still active', async () => {
    const r = await runChild({
      scenario: 'devices',
      logPath,
      openInput: true,
      keepUntilExit: true,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^devices: [1-9]\d*\n$/);
    expect(r.stderr).toBe('');
    expect(fs.readFileSync(logPath, 'utf8')).toContain('Input audio options:');
  });

  it('nativeLogTail reads the native lines back while capturing', async () => {
    const r = await runChild({ scenario: 'devices', logPath, reportTail: true });
    expect(r.code).toBe(0);
    const reported = /^tail bytes: (\d+)\n$/.exec(r.stderr);
    expect(reported).not.toBeNull();
    expect(Number(reported![1])).toBeGreaterThan(1000);
  });

  it('with verbose, native output goes to stderr and stdout still holds only the CLI line', async () => {
    const r = await runChild({ scenario: 'devices', logPath, openInput: true, verbose: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^devices: [1-9]\d*\n$/);
    expect(lines(r.stderr).filter((l) => l.startsWith('ALSA lib')).length).toBeGreaterThan(10);
    expect(r.stderr).toContain('Input audio options:');
    expect(r.stderr).toContain('node process.stdout line');
    expect(fs.existsSync(logPath)).toBe(false);
  });

  it('without the addon, says so once and the Terminal still writes to stdout', async () => {
    const missing = path.join(dir, 'no-such-dir', 'stdio_redirect.node');
    const r = await runChild({ scenario: 'missing-addon', logPath, addonPath: missing });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('round 1 capturing=false\nround 2 capturing=false\n');
    const messages = lines(r.stderr);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('stdio-redirect module could not be loaded');
    expect(messages[0]).toContain(missing);
    expect(messages[0]).toContain('node native/build-stdio-redirect.mjs');
    expect(messages[0]).toMatch(/\[NATIVE_UNAVAILABLE\]$/);
  });

  it('delivers every byte in order through a full non-blocking stdout pipe', async () => {
    const bytes = 2 * 1024 * 1024;
    const r = await runChild({ scenario: 'flood', logPath, bytes }, { pauseStdoutMs: 500 });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('flood done\n');
    const got = lines(r.stdout);
    expect(r.stdout.length).toBeGreaterThanOrEqual(bytes);
    got.forEach((line, i) => {
      if (line !== `${String(i).padStart(9, '0')} ${'x'.repeat(53)}`)
        expect.fail(`line ${i} is ${JSON.stringify(line.slice(0, 80))}`);
    });
  });

  it('survives a reader that goes away (EPIPE): later output is dropped, the CLI carries on', async () => {
    const r = await runChild(
      { scenario: 'flood', logPath, bytes: 4 * 1024 * 1024 },
      { closeStdoutAfterBytes: 64 * 1024 },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('flood done\n');
  });
});

describe('native log bound', () => {
  let capture: NativeOutputCapture | undefined;
  afterEach(() => capture?.dispose());

  it('rotates a log over maxBytes at start, keeping one old file', () => {
    const maxBytes = 64 * 1024;
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(`${logPath}.1`, 'oldest run\n'.repeat(1000));
    fs.writeFileSync(logPath, 'previous run\n'.repeat(6000)); // 78 000 bytes
    capture = captureNativeOutput({ logPath, maxBytes });
    expect(capture.capturing).toBe(true);
    fs.writeSync(1, 'native line after start\n');
    capture.dispose();
    expect(fs.readFileSync(`${logPath}.1`, 'utf8')).toBe('previous run\n'.repeat(6000));
    const current = fs.readFileSync(logPath, 'utf8');
    expect(current).toMatch(/^--- \S+ pid \d+ ---\nnative line after start\n$/);
  });

  it('does not rotate a log within maxBytes', () => {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(logPath, 'previous run\n');
    capture = captureNativeOutput({ logPath, maxBytes: 1024 });
    capture.dispose();
    expect(fs.existsSync(`${logPath}.1`)).toBe(false);
    expect(fs.readFileSync(logPath, 'utf8')).toMatch(/^previous run\n--- /);
  });

  it('keeps the log and its old copy bounded while native code keeps writing', async () => {
    const maxBytes = 16 * 1024;
    const chunk = 4 * 1024;
    const checkIntervalMs = 10;
    capture = captureNativeOutput({ logPath, maxBytes, checkIntervalMs });
    let largestTotal = 0;
    let written = 0;
    for (let i = 0; i < 40; i++) {
      // What native code does: write to fd 1 and fd 2 directly.
      fs.writeSync(i % 2 ? 1 : 2, `${String(i).padStart(4, '0')} ${'n'.repeat(chunk - 6)}\n`);
      written += chunk;
      // Two check intervals: at most one chunk is written between two checks.
      await new Promise((resolve) => setTimeout(resolve, 2 * checkIntervalMs));
      const total =
        fs.statSync(logPath).size +
        (fs.statSync(`${logPath}.1`, { throwIfNoEntry: false })?.size ?? 0);
      largestTotal = Math.max(largestTotal, total);
    }
    capture.dispose();
    expect(written).toBeGreaterThan(8 * maxBytes);
    // Each file is rotated once past maxBytes, with at most one chunk written since the last check.
    expect(largestTotal).toBeLessThanOrEqual(2 * (maxBytes + chunk) + 100);
    expect(fs.readFileSync(logPath, 'utf8')).toContain(`0039 ${'n'.repeat(10)}`);
    expect(readLogTail(logPath, 1024 * 1024)).toContain('0039');
  });

  it('refuses a second capture while one is active', () => {
    capture = captureNativeOutput({ logPath });
    expect(() => captureNativeOutput({ logPath })).toThrow(/already being captured/);
  });
});

describe('readLogTail', () => {
  it('returns whole lines from the end, continuing into the rotated file when the log is short', () => {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fs.writeFileSync(`${logPath}.1`, 'old one\nold two\nold three\n');
    fs.writeFileSync(logPath, 'new one\nnew two\n');
    expect(readLogTail(logPath, 16)).toBe('new one\nnew two\n');
    expect(readLogTail(logPath, 10)).toBe('new two\n');
    expect(readLogTail(logPath, 16 + 11)).toBe('old three\nnew one\nnew two\n');
    expect(readLogTail(path.join(dir, 'missing.log'), 100)).toBe('');
  });
});
