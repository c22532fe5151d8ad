import type { Event } from '../../core/event';
import type { IDisposable } from '../../core/lifecycle';
import type { StenoError } from '../../core/errors';

/** What a capture source delivers: 16-bit little-endian interleaved PCM. */
export interface CaptureFormat {
  sampleRate: number;
  /** Channels in the delivered buffers (the session downmixes to mono). */
  channels: number;
}

export interface CaptureDevice {
  id: number;
  name: string;
  maxInputChannels: number;
  defaultSampleRate: number;
  hostApi: string;
}

/**
 * A source of microphone frames. `onDidData` delivers buffers that the
 * listener must copy before returning (they may be reused). `stop` delivers
 * every frame captured before it resolves. `onDidError` fires for faults after
 * start; the source is then unusable and must be disposed.
 */
export interface CaptureSource extends IDisposable {
  readonly format: CaptureFormat;
  readonly deviceName: string;
  readonly onDidData: Event<Buffer>;
  readonly onDidError: Event<StenoError>;
  start(): void;
  /** `deviceSilent`: the device stopped delivering; do not wait on it. */
  stop(deviceSilent?: boolean): Promise<void>;
}

export interface OpenCaptureOptions {
  /** A device id from `listDevices`; the system default when absent. */
  deviceId?: number;
  /** Preferred rate; the device's own rate is used when it refuses this one. */
  sampleRate?: number;
}
