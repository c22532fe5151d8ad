/**
 * A StenoService for tests: a temp data folder, a synthetic microphone the
 * test drives by hand (or in real time), scripted model hosts and model
 * files that exist (the scripted host never reads them).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CommandName, CommandParams, CommandResult } from '../core/api/commands';
import type { StenoEvent } from '../core/api/events';
import type { Settings } from '../core/api/types';
import { StenoError } from '../core/errors';
import { SyntheticCapture, type SyntheticCaptureOptions } from '../main/capture/synthetic-capture';
import { StenoService, type StenoServiceOptions } from '../main/services/steno-service';
import { ScriptedHost, scriptedLauncher } from './scripted-host';
import { makeTempDir, removeTempDir } from './tmp';

export interface ServiceFixture {
  dir: string;
  service: StenoService;
  /** Every capture opened so far (one per recording). */
  captures: SyntheticCapture[];
  hosts: ScriptedHost[];
  /** Every event, in order. Unbounded: a test's own record. */
  events: StenoEvent[];
  call<K extends CommandName>(command: K, params: CommandParams<K>): Promise<CommandResult<K>>;
  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitFor<T extends StenoEvent>(pred: (e: StenoEvent) => e is T, timeoutMs?: number): Promise<T>;
  waitFor(pred: (e: StenoEvent) => boolean, timeoutMs?: number): Promise<StenoEvent>;
  dispose(): Promise<void>;
}

export async function makeServiceFixture(
  opts: {
    capture?: SyntheticCaptureOptions;
    settings?: Partial<Settings>;
    host?: ConstructorParameters<typeof ScriptedHost>[0];
    service?: Partial<StenoServiceOptions>;
  } = {},
): Promise<ServiceFixture> {
  const dir = makeTempDir('steno-service-');
  const whisperModel = path.join(dir, 'whisper.bin');
  const embeddingModel = path.join(dir, 'embedding.onnx');
  fs.writeFileSync(whisperModel, 'scripted');
  fs.writeFileSync(embeddingModel, 'scripted');
  const captures: SyntheticCapture[] = [];
  const { launcher, hosts } = scriptedLauncher(() => new ScriptedHost(opts.host));
  const service = await StenoService.create({
    dataDir: dir,
    capture: {
      listDevices: () => [
        {
          id: 0,
          name: 'synthetic',
          maxInputChannels: 1,
          defaultSampleRate: 48_000,
          hostApi: 'test',
        },
      ],
      open: () => {
        const c = new SyntheticCapture({ pacing: 'manual', ...opts.capture });
        captures.push(c);
        return c;
      },
    },
    hostLauncher: launcher,
    // A test drives the microphone by hand: no watchdog between its pumps.
    session: { watchdogMs: 600_000 },
    supervisor: { backoffMs: [10], shutdownDeadlineMs: 500 },
    ...opts.service,
  });
  service.settings.override({ whisperModel, embeddingModel, ...opts.settings });
  const events: StenoEvent[] = [];
  let waiters: { pred: (e: StenoEvent) => boolean; resolve: (e: StenoEvent) => void }[] = [];
  const sub = service.onDidEvent((e) => {
    events.push(e);
    waiters = waiters.filter((w) => {
      if (!w.pred(e)) return true;
      w.resolve(e);
      return false;
    });
  });
  return {
    dir,
    service,
    captures,
    hosts,
    events,
    async call(command, params) {
      const outcome = await service.call(command, params);
      if (!outcome.ok) throw StenoError.fromWire(outcome.error);
      return outcome.result as never;
    },
    waitFor(pred: (e: StenoEvent) => boolean, timeoutMs = 10_000): Promise<never> {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen as never);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('timed out waiting for an event')),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e as never);
          },
        });
      });
    },
    async dispose() {
      await service.shutdown();
      sub.dispose();
      service.dispose();
      for (const h of hosts) h.dispose();
      removeTempDir(dir);
    },
  };
}

/**
 * Delivers `seconds` of audio from the capture as fast as the session's ring
 * takes it (the writer drains it between pumps).
 */
export async function pumpSeconds(f: ServiceFixture, seconds: number): Promise<void> {
  const capture = f.captures.at(-1)!;
  const session = f.service.recorder.current!.session;
  const chunkFrames = Math.round(capture.format.sampleRate / 50);
  const total = Math.ceil((seconds * capture.format.sampleRate) / chunkFrames);
  for (let sent = 0; sent < total;) {
    const room = Math.floor(session.ringFreeBytes / (chunkFrames * 2));
    const n = Math.min(room, total - sent, 50);
    if (n > 0) {
      capture.pump(n);
      sent += n;
    }
    await new Promise((r) => setImmediate(r));
  }
}
