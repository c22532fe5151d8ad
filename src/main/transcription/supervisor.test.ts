import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostModelPaths } from '../../core/host-protocol';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { TEST_HOST_OPTIONS, testModels } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { bundledVadModelPath } from '../models';
import { nodeHostLauncher } from './host-process';
import { ScriptedHost, scriptedLauncher } from '../../testing/scripted-host';
import { ModelHostSupervisor } from './supervisor';
import { isProcessAlive } from '../process-alive';

const FAKE_MODELS: HostModelPaths = { whisper: 'w', vad: 'v', embedding: 'e' };

describe('ModelHostSupervisor with a fake host', () => {
  it('start/ping/stop does not leak (1x/10x/100x)', async () => {
    const report = await measureLeak(async () => {
      const s = new ModelHostSupervisor({
        models: FAKE_MODELS,
        options: TEST_HOST_OPTIONS,
        launcher: () => new ScriptedHost(),
      });
      await s.start();
      await s.request(
        (id) => ({ type: 'ping', id }),
        (m, id) => m.type === 'pong' && m.id === id,
        1000,
      );
      await s.stop();
      s.dispose();
    });
    assertNoLeak(report);
  });

  it('stop waits out a busy host before killing it; stop now kills it at once', async () => {
    for (const now of [false, true]) {
      const { launcher, hosts } = scriptedLauncher(
        () => new ScriptedHost({ exitOnShutdown: false }),
      );
      const s = new ModelHostSupervisor({
        models: FAKE_MODELS,
        options: TEST_HOST_OPTIONS,
        launcher,
        shutdownDeadlineMs: 600,
      });
      await s.start();
      const t0 = performance.now();
      await s.stop({ now });
      const ms = performance.now() - t0;
      expect(await hosts[0]!.exited).toEqual({ code: null, signal: 'SIGKILL' });
      if (now) expect(ms).toBeLessThan(300);
      else expect(ms).toBeGreaterThanOrEqual(590);
      s.dispose();
      for (const h of hosts) h.dispose();
    }
  });

  it('restarts a crashed host with backoff, and stop leaves none behind', async () => {
    const { launcher, hosts } = scriptedLauncher();
    const s = new ModelHostSupervisor({
      models: FAKE_MODELS,
      options: TEST_HOST_OPTIONS,
      launcher,
      backoffMs: [10, 20],
    });
    await s.start();
    const ready = new Promise<void>((resolve) => {
      const sub = s.onDidBecomeReady(() => {
        sub.dispose();
        resolve();
      });
    });
    const crashed = new Promise<number>((resolve) => {
      const sub = s.onDidCrash((c) => {
        sub.dispose();
        resolve(c.restartInMs);
      });
    });
    s.killCurrentHost();
    expect(await crashed).toBe(10);
    await ready;
    expect(hosts.length).toBe(2);
    expect(s.restarts).toBe(1);
    await s.stop();
    s.dispose();
    for (const h of hosts) h.dispose();
  });
});

describe('ModelHostSupervisor idle timeout', () => {
  it('asks an idle host to exit (not a crash), and wake starts a new one', async () => {
    const { launcher, hosts } = scriptedLauncher();
    const s = new ModelHostSupervisor({
      models: FAKE_MODELS,
      options: TEST_HOST_OPTIONS,
      launcher,
      idleTimeoutMs: 50,
    });
    let crashes = 0;
    const sub = s.onDidCrash(() => crashes++);
    await s.start();
    await hosts[0]!.exited;
    await new Promise((r) => setTimeout(r, 10));
    expect(s.isParked).toBe(true);
    expect(crashes).toBe(0);
    const ready = new Promise<void>((resolve) => {
      const r = s.onDidBecomeReady(() => {
        r.dispose();
        resolve();
      });
    });
    s.wake();
    await ready;
    expect(hosts.length).toBe(2);
    expect(s.isReady).toBe(true);
    await s.stop();
    sub.dispose();
    s.dispose();
    for (const h of hosts) h.dispose();
  });
});

describe('ModelHostSupervisor with the real host process', () => {
  let dir: string;
  let models: HostModelPaths;
  beforeAll(async () => {
    dir = makeTempDir('steno-models-');
    const m = await testModels();
    models = { whisper: m.whisper, embedding: m.embedding, vad: bundledVadModelPath() };
  }, 120_000);
  afterAll(() => removeTempDir(dir));

  it('loads the models, answers, and exits on stop with no process left', async () => {
    const s = new ModelHostSupervisor({
      models,
      options: TEST_HOST_OPTIONS,
      launcher: nodeHostLauncher,
    });
    const info = await s.start();
    expect(isProcessAlive(info.pid)).toBe(true);
    expect(info.embeddingDimension).toBe(256);
    const report = await measureLeak(async () => {
      await s.request(
        (id) => ({ type: 'ping', id }),
        (m, id) => m.type === 'pong' && m.id === id,
        5000,
      );
    });
    assertNoLeak(report);
    await s.stop();
    s.dispose();
    expect(isProcessAlive(info.pid)).toBe(false);
  }, 60_000);

  const badFiles: [string, (file: string) => void, keyof HostModelPaths, RegExp][] = [
    ['missing Whisper model', () => {}, 'whisper', /Whisper model .* (does not exist|missing)/i],
    ['empty Whisper model', (f) => fs.writeFileSync(f, ''), 'whisper', /Whisper model/],
    [
      'truncated Whisper model',
      (f) => fs.writeFileSync(f, fs.readFileSync(models.whisper).subarray(0, 5000)),
      'whisper',
      /Whisper model/,
    ],
    [
      'garbage Whisper model',
      (f) => fs.writeFileSync(f, Buffer.alloc(100_000, 7)),
      'whisper',
      /Whisper model/,
    ],
    [
      'garbage embedding model',
      (f) => fs.writeFileSync(f, Buffer.alloc(5000, 3)),
      'embedding',
      /speaker-embedding model/,
    ],
    [
      'ONNX with the wrong inputs as embedding model',
      (f) => fs.copyFileSync(bundledVadModelPath(), f),
      'embedding',
      /speaker-embedding model/,
    ],
    ['empty VAD model', (f) => fs.writeFileSync(f, ''), 'vad', /voice-activity model/],
  ];

  for (const [name, make, which, message] of badFiles) {
    it(`a ${name} gives MODEL_INVALID naming the file; no host is left and this process survives`, async () => {
      const file = path.join(dir, `${which}-${name.replace(/\W+/g, '-')}`);
      make(file);
      const s = new ModelHostSupervisor({
        models: { ...models, [which]: file },
        options: TEST_HOST_OPTIONS,
        launcher: nodeHostLauncher,
        backoffMs: [10],
      });
      const failure = s.start();
      await expect(failure).rejects.toMatchObject({ code: 'MODEL_INVALID' });
      const error = (await failure.catch((e: Error) => e)) as Error;
      expect(error.message).toMatch(message);
      expect(error.message).toContain(file);
      expect(s.restarts).toBe(0);
      await s.stop();
      s.dispose();
      expect(isProcessAlive(s.pid)).toBe(false);
    }, 60_000);
  }
});
