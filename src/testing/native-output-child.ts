/**
 * A child process for src/main/native-output.test.ts: captures native output
 * as the CLI does, makes native libraries print, and writes its own lines
 * through the Terminal. Run as `node --import tsx native-output-child.ts '<json>'`.
 *
 * Scenarios (field `scenario`):
 * - "devices": capture, list naudiodon's devices (ALSA prints while PortAudio
 *   probes), optionally open the default input briefly (naudiodon printf()s its
 *   options), write one line to process.stdout, console.error and a child
 *   process with inherited stdio (all of which must land in the log), then
 *   write `devices: N` through Terminal.out.
 * - "missing-addon": capture twice with an addon path that does not exist,
 *   and write one line through each capture's Terminal.
 * - "flood": write `bytes` bytes of numbered lines through Terminal.out, in
 *   320 KB chunks (above a socket pair's send buffer), after
 *   touching process.stdout so libuv makes the stdout pipe non-blocking.
 */
import { spawnSync } from 'node:child_process';
import { loadNaudiodon } from '../../native/load-naudiodon';
import { captureNativeOutput, nativeLogTail } from '../main/native-output';

interface ChildConfig {
  scenario: 'devices' | 'missing-addon' | 'flood';
  logPath: string;
  verbose?: boolean;
  maxBytes?: number;
  openInput?: boolean;
  /** With "devices": keep the capture until exit instead of disposing it. */
  keepUntilExit?: boolean;
  /** With "devices": print nativeLogTail's byte count on stderr of the Terminal. */
  reportTail?: boolean;
  addonPath?: string;
  bytes?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;

async function devices(): Promise<void> {
  const capture = captureNativeOutput({
    logPath: config.logPath,
    verbose: config.verbose,
    maxBytes: config.maxBytes,
  });
  if (!capture.capturing) throw new Error(`not capturing: ${capture.problem?.message}`);
  const pa = loadNaudiodon();
  const count = pa.getDevices().length;
  if (config.openInput) {
    const input = pa.openInput(
      {
        channelCount: 1,
        sampleFormat: pa.SampleFormat16Bit,
        sampleRate: 16_000,
        deviceId: -1,
        closeOnError: false,
        framesPerBuffer: 320,
        maxQueue: 8,
      },
      640,
    );
    // The loop reads until quit; the first read says the device delivers.
    await new Promise<void>((resolve, reject) =>
      input.start({ onData: () => resolve(), onError: reject, onEnd: () => {} }),
    );
    await input.quit('WAIT');
  }
  process.stdout.write('node process.stdout line\n');
  console.error('node console.error line');
  spawnSync('sh', ['-c', 'echo child stdout line; echo child stderr line >&2'], {
    stdio: 'inherit',
  });
  if (config.reportTail) capture.terminal.err(`tail bytes: ${nativeLogTail(64 * 1024).length}\n`);
  capture.terminal.out(`devices: ${count}\n`);
  if (!config.keepUntilExit) capture.dispose();
}

function missingAddon(): void {
  for (const round of [1, 2]) {
    const capture = captureNativeOutput({ logPath: config.logPath, addonPath: config.addonPath });
    capture.terminal.out(`round ${round} capturing=${capture.capturing}\n`);
    capture.dispose();
  }
}

function flood(): void {
  // Creating process.stdout on a pipe makes libuv set O_NONBLOCK on it, and
  // the Terminal's saved copy shares that open file description.
  void process.stdout.writableLength;
  const capture = captureNativeOutput({ logPath: config.logPath });
  const total = config.bytes ?? 0;
  // Chunks far above PIPE_BUF, so writes into a part-full pipe come back partial.
  const linesPerChunk = 5000;
  let line = 0;
  for (let written = 0; written < total;) {
    let chunk = '';
    for (let i = 0; i < linesPerChunk; i++, line++)
      chunk += `${String(line).padStart(9, '0')} ${'x'.repeat(53)}\n`;
    capture.terminal.out(chunk);
    written += chunk.length;
  }
  capture.terminal.err('flood done\n');
  capture.dispose();
}

switch (config.scenario) {
  case 'devices':
    await devices();
    break;
  case 'missing-addon':
    missingAddon();
    break;
  case 'flood':
    flood();
    break;
}
