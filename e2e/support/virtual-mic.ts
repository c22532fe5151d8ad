import { execFile, execFileSync, spawn } from 'node:child_process';
import { toDisposable, type IDisposable } from '../../src/core/lifecycle';
import { VIRTUAL_MIC_PACKAGES, VIRTUAL_MIC_PROBLEM_ENV } from './virtual-mic-server';

/**
 * Tests that need the virtual microphone call this first; `npm test` brings it
 * up (src/testing/global-setup.ts), benchmarks need `bash e2e/virtual-mic.sh`.
 * It fails, never skips: a missing environment is a failure, in one sentence
 * saying what to install.
 */
export function requireVirtualMic(): void {
  const problem = process.env[VIRTUAL_MIC_PROBLEM_ENV];
  if (problem) throw new Error(`${problem}.`);
  let sources = '';
  try {
    sources = execFileSync('pactl', ['list', 'short', 'sources'], { encoding: 'utf8' });
  } catch (e) {
    throw new Error(
      `the virtual microphone is not running (pactl failed: ${(e as Error).message.split('\n')[0]}): ` +
        `run the tests with \`npm test\`, or start it with \`bash e2e/virtual-mic.sh\` (needs ${VIRTUAL_MIC_PACKAGES}).`,
    );
  }
  if (!/\bsteno_mic\b/.test(sources)) {
    throw new Error(
      'the virtual microphone steno_mic is missing: run the tests with `npm test`, ' +
        `or start it with \`bash e2e/virtual-mic.sh\` (needs ${VIRTUAL_MIC_PACKAGES}).`,
    );
  }
  // A previous test may have suspended it to simulate an unplugged device.
  execFileSync('pactl', ['suspend-source', 'steno_mic', '0']);
  execFileSync('pactl', ['suspend-sink', 'steno_sink', '0']);
}

/**
 * Plays a WAV file into the virtual microphone; resolves when playback ends.
 * Asynchronous on purpose: blocking the test's event loop would stop it from
 * reading the recorder's output, and a full pipe would stall the recorder.
 */
export function playIntoMic(wavPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('paplay', ['--device=steno_sink', wavPath], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`paplay exited with ${code}`)),
    );
  });
}

/** Stops all audio from the virtual microphone, as an unplugged device would. */
export function suspendMic(suspended: boolean): void {
  execFileSync('pactl', ['suspend-source', 'steno_mic', suspended ? '1' : '0']);
}

/** A `paplay` into the virtual microphone that its owner can end early. */
export interface MicPlayback extends IDisposable {
  /** Resolves when paplay has exited, whether the file ended or it was stopped. */
  readonly exited: Promise<void>;
  /** Whether paplay is still playing. */
  readonly playing: boolean;
  readonly pid: number | undefined;
}

/**
 * Starts playing a WAV file into the virtual microphone and returns at once;
 * disposing stops the playback (SIGTERM to this paplay, by its pid).
 */
export function startPlayingIntoMic(wavPath: string): MicPlayback {
  const p = spawn('paplay', ['--device=steno_sink', wavPath], { stdio: 'ignore' });
  let playing = true;
  const exited = new Promise<void>((resolve) => {
    p.on('error', () => {
      playing = false;
      resolve();
    });
    p.on('exit', () => {
      playing = false;
      resolve();
    });
  });
  const stop = toDisposable(() => {
    if (playing) p.kill('SIGTERM');
  });
  return {
    exited,
    get playing() {
      return playing;
    },
    pid: p.pid,
    dispose: () => stop.dispose(),
  };
}

/**
 * The streams playing into the virtual microphone other than `ownPids`'
 * (silence from /dev/zero, the stream that keeps the sink awake, does not
 * count): another program playing at the same time mixes its audio into
 * every recording, so a comparison with what was played no longer holds.
 */
export async function otherStreamsIntoMic(ownPids: number[]): Promise<string[]> {
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile('pactl', args, { encoding: 'utf8' }, (e, stdout) =>
        e ? reject(e) : resolve(stdout),
      ),
    );
  const sinks = await run(['list', 'short', 'sinks']);
  const sink = /^(\d+)\s+steno_sink\s/m.exec(sinks)?.[1];
  if (sink === undefined) return [];
  const inputs = (await run(['list', 'sink-inputs'])).split(/^Sink Input #/m).slice(1);
  return inputs
    .filter((block) => new RegExp(`^\\s*Sink: ${sink}$`, 'm').test(block))
    .map((block) => ({
      pid: Number(/application\.process\.id = "(\d+)"/.exec(block)?.[1]),
      name: /media\.name = "(.*)"/.exec(block)?.[1] ?? '',
      binary: /application\.process\.binary = "(.*)"/.exec(block)?.[1] ?? '?',
    }))
    .filter((s) => !ownPids.includes(s.pid) && s.name !== '/dev/zero')
    .map((s) => `${s.binary} (pid ${s.pid}) playing ${s.name}`);
}
