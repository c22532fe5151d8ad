import { Emitter } from '../../core/event';
import { StenoError } from '../../core/errors';
import { loadNaudiodon, type Naudiodon, type NaudiodonInput } from '../../../native/load-naudiodon';
import type {
  CaptureDevice,
  CaptureFormat,
  CaptureSource,
  OpenCaptureOptions,
} from './capture-source';
import { Disposable } from '../../core/lifecycle';

/**
 * Capture over naudiodon (PortAudio). Every known fault of naudiodon is
 * contained here and in native/load-naudiodon.ts (DESIGN.md):
 * - `abort()` throws: the loader calls the addon's quit('ABORT') itself.
 * - a second `quit()` hangs: quit is called at most once, with a deadline.
 * - the audio PortAudio is still buffering is lost at quit: a graceful stop
 *   first waits one buffer's time, so that buffer is queued and read, and the
 *   last partial read is kept.
 * - a vanished device fires no event: the session runs a no-data watchdog.
 * - the native queue blocks the audio thread when JavaScript does not drain it:
 *   the stream flows, and every chunk is copied into the ring at once; the
 *   queue holds up to 2 s so a stalled event loop does not block it.
 * - an out-of-range device id silently opens the default device: ids are
 *   checked against the device list first.
 */

/**
 * PortAudio delivers 200 ms buffers and JavaScript reads one at a time (five
 * reads a second: the level meter moves five times a second). Every buffer
 * wakes PortAudio's thread, the thread pool's blocked read and JavaScript, and
 * on a busy machine each wake-up costs more than the work it does: against
 * 50 ms buffers, 200 ms ones cut PortAudio's thread from about 0.21% to 0.09%
 * of a core and the thread pool's wake-ups by a third (bench/README.md,
 * record-cpu). Larger buffers cost no audio at stop (see quitOnce); at a
 * crash, at most one buffer more than before had not reached the file.
 */
const CALLBACK_MS = 200;
const READ_MS = 200;
/** How late past its period PortAudio may queue a full buffer (scheduling jitter). */
const CALLBACK_SLACK_MS = 50;
/** Native queue capacity in PortAudio buffers: 2 s; when full, PortAudio blocks. */
const NATIVE_QUEUE_BUFFERS = Math.ceil(2000 / CALLBACK_MS);
/** How long `quit()` may take before the stream is abandoned. */
const QUIT_DEADLINE_MS = 2000;
/** How long to wait for the last buffered frames after `quit()`. */
const END_DEADLINE_MS = 1000;
const PREFERRED_RATE = 48_000;

export function listDevices(): CaptureDevice[] {
  const pa = loadNaudiodon();
  return pa
    .getDevices()
    .filter((d) => d.maxInputChannels > 0)
    .map((d) => ({
      id: d.id,
      name: d.name,
      maxInputChannels: d.maxInputChannels,
      defaultSampleRate: d.defaultSampleRate,
      hostApi: d.hostAPIName,
    }));
}

export function openNaudiodonCapture(options: OpenCaptureOptions = {}): CaptureSource {
  const pa = loadNaudiodon();
  const devices = listDevices();
  let device: CaptureDevice | undefined;
  if (options.deviceId !== undefined) {
    device = devices.find((d) => d.id === options.deviceId);
    if (!device) {
      const ids = devices.map((d) => `${d.id} (${d.name})`).join(', ') || 'none';
      throw new StenoError(
        'DEVICE_NOT_FOUND',
        `There is no audio input device with id ${options.deviceId}; input devices: ${ids}.`,
        'Run `steno devices` to list them and pass one of those ids, or omit --device for the default.',
      );
    }
  } else if (devices.length === 0) {
    throw new StenoError(
      'NO_INPUT_DEVICE',
      'No audio input device was found.',
      'Connect a microphone (or check the sound server) and try again.',
    );
  }
  return new NaudiodonCapture(pa, device, options.sampleRate ?? PREFERRED_RATE);
}

class NaudiodonCapture extends Disposable implements CaptureSource {
  private readonly dataEmitter = new Emitter<Buffer>(4);
  private readonly errorEmitter = new Emitter<StenoError>(4);
  readonly onDidData = this.dataEmitter.event;
  readonly onDidError = this.errorEmitter.event;
  readonly format: CaptureFormat;
  readonly deviceName: string;
  private readonly input: NaudiodonInput;
  private state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  private stopPromise: Promise<void> | null = null;
  /** Settles when the read loop has ended (after quit) or failed. */
  private readonly ended: Promise<void>;
  private resolveEnded: () => void = () => {};

  constructor(pa: Naudiodon, device: CaptureDevice | undefined, preferredRate: number) {
    super();
    this.deviceName = device?.name ?? 'default';
    const opened = openFirstSupported(pa, device, preferredRate);
    this.input = opened.input;
    this.format = opened.format;
    this.ended = new Promise<void>((resolve) => (this.resolveEnded = resolve));
  }

  start(): void {
    if (this.state !== 'idle') throw new Error(`capture cannot start in state ${this.state}`);
    try {
      this.input.start({
        onData: (chunk) => {
          if (this.state === 'running' || this.state === 'stopping') this.dataEmitter.fire(chunk);
        },
        onError: (err) => {
          this.resolveEnded();
          if (this.state !== 'running') return;
          this.errorEmitter.fire(
            new StenoError(
              'DEVICE_LOST',
              `The input device "${this.deviceName}" reported an error: ${err.message}.`,
              'Check the microphone connection; the audio recorded so far was kept.',
              { cause: err },
            ),
          );
        },
        onEnd: () => this.resolveEnded(),
      });
    } catch (e) {
      this.state = 'stopped';
      throw new StenoError(
        'DEVICE_OPEN_FAILED',
        `The input device "${this.deviceName}" could not start: ${(e as Error).message}.`,
        'Check the microphone and try again, or choose another with --device.',
        { cause: e },
      );
    }
    this.state = 'running';
  }

  /**
   * Stops the device and delivers the frames still queued. With
   * `deviceSilent` (the watchdog found no audio arriving) PortAudio is aborted
   * instead: a graceful stop would block on a device that no longer delivers.
   */
  stop(deviceSilent = false): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    if (this.state === 'idle') {
      this.state = 'stopped';
      this.stopPromise = Promise.resolve();
      return this.stopPromise;
    }
    this.state = 'stopping';
    this.stopPromise = this.quitOnce(deviceSilent ? 'ABORT' : 'WAIT').finally(() => {
      this.state = 'stopped';
    });
    return this.stopPromise;
  }

  private async quitOnce(flag: 'WAIT' | 'ABORT'): Promise<void> {
    // The buffer PortAudio is filling holds the audio up to this moment; it is
    // queued when full, within one buffer's time. Quitting now would lose it.
    if (flag === 'WAIT') await sleep(CALLBACK_MS + CALLBACK_SLACK_MS);
    // quit resolves when PortAudio has stopped; the reads still queued
    // natively arrive as data before the end.
    const quit = this.input.quit(flag).catch(() => {});
    await withDeadline(quit, QUIT_DEADLINE_MS);
    await withDeadline(this.ended, END_DEADLINE_MS);
  }

  override dispose(): void {
    // A running stream is quit (once) in the background; the emitters go now so
    // no frame reaches a disposed owner.
    if (this.state === 'running') void this.stop();
    // Opened but never started: release PortAudio's stream (no read is pending).
    if (this.state === 'idle') {
      this.state = 'stopped';
      void this.input.quit('ABORT').catch(() => {});
    }
    this.dataEmitter.dispose();
    this.errorEmitter.dispose();
    super.dispose();
  }
}

function candidateFormats(
  device: CaptureDevice | undefined,
  preferredRate: number,
): CaptureFormat[] {
  const rates = [preferredRate];
  if (device && device.defaultSampleRate !== preferredRate) rates.push(device.defaultSampleRate);
  const channels = [1];
  if (device && device.maxInputChannels >= 2) channels.push(2);
  else if (!device) channels.push(2);
  const out: CaptureFormat[] = [];
  for (const c of channels) for (const r of rates) out.push({ sampleRate: r, channels: c });
  return out;
}

function openFirstSupported(
  pa: Naudiodon,
  device: CaptureDevice | undefined,
  preferredRate: number,
): { input: NaudiodonInput; format: CaptureFormat } {
  let lastError: unknown;
  for (const format of candidateFormats(device, preferredRate)) {
    try {
      return { input: openStream(pa, device?.id ?? -1, format), format };
    } catch (e) {
      lastError = e;
    }
  }
  const name = device?.name ?? 'default';
  throw new StenoError(
    'DEVICE_OPEN_FAILED',
    `The input device "${name}" could not be opened: ${(lastError as Error)?.message ?? String(lastError)}.`,
    'Check that no other program holds it exclusively, or choose another with --device.',
    { cause: lastError },
  );
}

function openStream(pa: Naudiodon, deviceId: number, format: CaptureFormat): NaudiodonInput {
  const framesPerCallback = Math.round((format.sampleRate * CALLBACK_MS) / 1000);
  const bytesPerRead = Math.round((format.sampleRate * READ_MS) / 1000) * format.channels * 2;
  return pa.openInput(
    {
      channelCount: format.channels,
      sampleFormat: pa.SampleFormat16Bit,
      sampleRate: format.sampleRate,
      deviceId,
      closeOnError: false,
      framesPerBuffer: framesPerCallback,
      maxQueue: NATIVE_QUEUE_BUFFERS,
    },
    bytesPerRead,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withDeadline(p: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
