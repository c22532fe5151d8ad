import { createRequire } from 'node:module';
import path from 'node:path';
import { StenoError } from '../src/core/errors';

/**
 * Steno's own binding to naudiodon's addon. naudiodon's JavaScript wrapper
 * (index.js) has three faults that this file avoids by driving the addon
 * (`build/Release/naudiodon.node`) directly:
 * - `abort()` passes two arguments to the addon's `quit`, which throws: here
 *   `quit('ABORT')` is called correctly, for devices that stopped delivering
 *   (a `quit('WAIT')` then blocks inside PortAudio until the device returns).
 * - the last partial read before quit is dropped: here it is delivered.
 * - it registers segfault-handler (a NAN addon tied to one Node ABI): not loaded.
 */

export interface NaudiodonDevice {
  id: number;
  name: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
  hostAPIName: string;
}

export interface NaudiodonInOptions {
  channelCount: number;
  sampleFormat: number;
  sampleRate: number;
  /** -1 selects PortAudio's default input; an out-of-range id silently does too. */
  deviceId: number;
  closeOnError: boolean;
  framesPerBuffer: number;
  /** Native chunk queue length; when full, PortAudio's audio thread blocks. */
  maxQueue: number;
}

interface AddonAudioIO {
  start(): void;
  read(bytes: number): Promise<{ buf?: Buffer; finished?: boolean; err?: Error }>;
  quit(flag: 'WAIT' | 'ABORT'): Promise<void>;
}

interface Addon {
  getDevices(): NaudiodonDevice[];
  create(options: { inOptions: NaudiodonInOptions }): AddonAudioIO;
}

/** Where an input's reads go; each is called on the main thread. */
export interface NaudiodonInputHandlers {
  /** One read: `bytesPerRead` bytes, or fewer for the last one before the end. */
  onData(chunk: Buffer): void;
  /** The addon reported an error; no read follows. */
  onError(err: Error): void;
  /** The stream finished after `quit` (the last data came before this); no read follows. */
  onEnd(): void;
}

/** An input stream delivering PCM reads of `bytesPerRead` bytes. */
export interface NaudiodonInput {
  /**
   * Starts the device, then reads in a loop, one read pending at a time,
   * until the stream ends or fails. Throws (without reading) when PortAudio
   * cannot start: a read pending on a never-started device would block the
   * process from exiting.
   */
  start(handlers: NaudiodonInputHandlers): void;
  /**
   * Stops the device, once: later calls return the first call's promise (a
   * second quit hangs in the addon). 'WAIT' lets PortAudio finish; 'ABORT'
   * drops its buffers and does not wait on a device that stopped delivering.
   */
  quit(flag: 'WAIT' | 'ABORT'): Promise<void>;
}

export interface Naudiodon {
  readonly SampleFormat16Bit: 16;
  getDevices(): NaudiodonDevice[];
  openInput(options: NaudiodonInOptions, bytesPerRead: number): NaudiodonInput;
}

let cached: Naudiodon | null = null;

/**
 * Loads the addon once. A missing or mis-built addon becomes a StenoError that
 * says what to do, instead of a stack trace.
 */
export function loadNaudiodon(): Naudiodon {
  if (cached) return cached;
  // Not named `require`: bundled ESM output declares its own.
  const nodeRequire = createRequire(import.meta.url);
  let addon: Addon;
  try {
    const root = path.dirname(nodeRequire.resolve('naudiodon/package.json'));
    addon = nodeRequire(path.join(root, 'build', 'Release', 'naudiodon.node')) as Addon;
  } catch (e) {
    throw new StenoError(
      'NATIVE_UNAVAILABLE',
      `The audio capture module (naudiodon) could not be loaded: ${(e as Error).message.split('\n')[0]}.`,
      'Reinstall with `npm ci` (it builds the module; Debian/Ubuntu need libasound2-dev and build-essential).',
      { cause: e },
    );
  }
  cached = {
    SampleFormat16Bit: 16,
    getDevices: () => addon.getDevices(),
    openInput: (options, bytesPerRead) => openInput(addon, options, bytesPerRead),
  };
  return cached;
}

function openInput(
  addon: Addon,
  options: NaudiodonInOptions,
  bytesPerRead: number,
): NaudiodonInput {
  // Throws (catchable) when PortAudio refuses the format or the device.
  const io = addon.create({ inOptions: options });
  let quitting: Promise<void> | null = null;
  return {
    start(handlers) {
      io.start();
      // A plain loop instead of a Readable: a read costs one promise
      // settlement, not the stream machinery's, at every read of the recording.
      const readNext = (): void => {
        io.read(bytesPerRead)
          .then((result) => {
            if (result.err) return handlers.onError(result.err);
            // The addon returns the last partial read with `finished`: keep it.
            if (result.buf && result.buf.byteLength > 0) handlers.onData(result.buf);
            if (result.finished) return handlers.onEnd();
            readNext();
          })
          // A failed read, or a handler that threw: the stream ends with that
          // error instead of an unhandled rejection taking the process down.
          .catch((err: unknown) => handlers.onError(err as Error));
      };
      readNext();
    },
    quit: (flag) => (quitting ??= io.quit(flag)),
  };
}
