import { execFileSync, spawn } from 'node:child_process';

/**
 * Tests that need the virtual microphone (e2e/virtual-mic.sh) call this first.
 * It fails, never skips: a missing environment is a failure in CI.
 */
export function requireVirtualMic(): void {
  let sources = '';
  try {
    sources = execFileSync('pactl', ['list', 'short', 'sources'], { encoding: 'utf8' });
  } catch (e) {
    throw new Error(
      `the virtual microphone is not running (pactl failed: ${(e as Error).message}); ` +
        'start it with `bash e2e/virtual-mic.sh` (needs pulseaudio, pulseaudio-utils, libasound2-plugins)',
    );
  }
  if (!/\bsteno_mic\b/.test(sources)) {
    throw new Error(
      'the virtual microphone steno_mic is missing; start it with `bash e2e/virtual-mic.sh`',
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
