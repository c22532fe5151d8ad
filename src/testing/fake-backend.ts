/**
 * A stand-in for the services behind the API: `call` answers from a table of
 * handlers the test passes, and events are fired by hand. It knows nothing of
 * recordings; adapters (IPC, `steno serve`, transports) are tested against it.
 */
import type { ApiBackend, CallOutcome } from '../core/api/backend';
import type { StenoEvent } from '../core/api/events';
import { DEFAULT_SETTINGS, type AppState, type Segment } from '../core/api/types';
import { unknownCommand } from '../core/api/wire';
import { API_VERSION } from '../core/api/version';
import { toStenoError } from '../core/errors';
import { Emitter } from '../core/event';
import { Disposable } from '../core/lifecycle';

/**
 * A handler returns the command's result (or a promise of it); what it throws
 * becomes the error reply, as the real dispatcher does.
 */
export type FakeHandler = (params: unknown) => unknown;
export type FakeHandlers = Record<string, FakeHandler>;

export const FAKE_STATE: AppState = {
  recording: null,
  hostState: 'stopped',
  settings: DEFAULT_SETTINGS,
  metrics: null,
};

/** An `appInfo` result that passes the API's schema. */
export const FAKE_APP_INFO = {
  version: '0.0.0-test',
  apiVersion: API_VERSION,
  platform: 'test',
  recordingsDir: '/tmp/steno-test-recordings',
};

export class FakeBackend extends Disposable implements ApiBackend {
  private readonly eventEmitter = this._register(new Emitter<StenoEvent>());
  readonly onDidEvent = this.eventEmitter.event;
  /** What `currentState` returns; tests may replace it. */
  state: AppState = FAKE_STATE;
  /** How many calls arrived, for tests that count. */
  callCount = 0;

  constructor(private readonly handlers: FakeHandlers = {}) {
    super();
  }

  async call(command: unknown, params: unknown): Promise<CallOutcome> {
    this.callCount++;
    const handler =
      typeof command === 'string' && Object.prototype.hasOwnProperty.call(this.handlers, command)
        ? this.handlers[command]
        : undefined;
    if (!handler) return { ok: false, error: unknownCommand(command) };
    try {
      return { ok: true, result: await handler(params) };
    } catch (e) {
      return { ok: false, error: toStenoError(e, `running ${String(command)}`).toJSON() };
    }
  }

  currentState(): AppState {
    return this.state;
  }

  /** Delivers `event` to every subscriber, as a service would. */
  fire(event: StenoEvent): void {
    this.eventEmitter.fire(event);
  }
}

/** Events that pass the API's schema, for tests that stream them. */
export const sampleEvents = {
  progress(elapsedS: number): StenoEvent {
    return { type: 'recording.progress', id: 'rec-1', elapsedS, durableS: elapsedS };
  },
  level(peakDbfs: number): StenoEvent {
    return { type: 'recording.level', peakDbfs, rmsDbfs: peakDbfs - 6 };
  },
  metrics(at: number): StenoEvent {
    return {
      type: 'metrics',
      metrics: {
        at,
        mainRssBytes: 100_000_000,
        hostRssBytes: null,
        hostState: 'stopped',
        heapUsedBytes: 20_000_000,
        modelsLoaded: false,
        ringUsedBytes: null,
        ringHighWaterBytes: null,
        ringCapacityBytes: null,
        framesDropped: null,
        transcriptionLagS: null,
        recordingFileBytes: null,
        diskFreeBytes: null,
        recordingSecondsLeft: null,
      },
    };
  },
  segment(index: number, text: string): StenoEvent {
    const segment: Segment = {
      id: index,
      startS: index * 3,
      endS: index * 3 + 2.5,
      text,
      speaker: index % 3,
    };
    return { type: 'transcript.segment', id: 'rec-1', segment };
  },
};
