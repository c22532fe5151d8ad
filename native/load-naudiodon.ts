import { createRequire } from 'node:module';
import { StenoError } from '../src/core/errors';

/** The subset of naudiodon's API that Steno uses. */
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
  deviceId: number;
  closeOnError: boolean;
  /** naudiodon spells it this way; it is also the size of every read. */
  highwaterMark: number;
  framesPerBuffer: number;
  /** Native chunk queue length; when full, PortAudio's audio thread blocks. */
  maxQueue: number;
}

export interface NaudiodonStream extends NodeJS.ReadableStream {
  start(): void;
  quit(cb?: () => void): Promise<void>;
  abort(cb?: () => void): void;
  destroy(err?: Error): void;
}

export interface Naudiodon {
  SampleFormat16Bit: number;
  getDevices(): NaudiodonDevice[];
  AudioIO(options: { inOptions: NaudiodonInOptions }): NaudiodonStream;
}

let cached: Naudiodon | null = null;

/**
 * Loads naudiodon once. A missing or mis-built addon becomes a StenoError that
 * says what to do, instead of a stack trace from `bindings`.
 */
export function loadNaudiodon(): Naudiodon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require('naudiodon') as Naudiodon;
    return cached;
  } catch (e) {
    throw new StenoError(
      'NATIVE_UNAVAILABLE',
      `The audio capture module (naudiodon) could not be loaded: ${(e as Error).message.split('\n')[0]}.`,
      'Reinstall with `npm ci` (it builds the module; Debian/Ubuntu need libasound2-dev and build-essential).',
      { cause: e },
    );
  }
}
