/**
 * One scenario through each of the three adapters over the same services,
 * with the real (virtual) microphone and the fixture models: start, a live
 * segment arrives, pause, resume, rename a speaker, stop, list, transcript.
 * - the CLI (`steno record --json`, controlled on stdin),
 * - the Electron IPC handler layer (with the preload bridge's logic),
 * - a WebSocket client against `steno serve`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { StenoClient } from '../src/core/api/client';
import type { StenoEvent } from '../src/core/api/events';
import { resolveRendererLocation } from '../src/main/electron/renderer-location';
import { registerApiHandlers } from '../src/main/electron/ipc';
import { createStenoBridge } from '../src/preload/bridge';
import { preloadClient } from '../src/renderer/api/preload-transport';
import {
  createWebSocketClient,
  type WebSocketConstructor,
} from '../src/renderer/api/websocket-transport';
import { StenoService } from '../src/main/services/steno-service';
import { FakeApp, FakeIpcMain, openWiredWindow } from '../src/testing/fake-electron';
import { testModels } from '../src/testing/test-models';
import { makeTempDir, removeTempDir } from '../src/testing/tmp';
import { spokenSentence } from './support/audio';
import { progressPast, recordingEnd, REPO_ROOT, runSteno, StenoProcess } from './support/steno-cli';
import { playIntoMic, requireVirtualMic } from './support/virtual-mic';

let models: { whisper: string; embedding: string; text: string };
let sentence: string;
let home: string;

beforeAll(async () => {
  requireVirtualMic();
  models = await testModels();
  sentence = spokenSentence('api-scenario', 'Every front end sees the same meeting.');
  home = makeTempDir('steno-api-');
}, 120_000);
afterAll(() => removeTempDir(home));

function waitForEvent(
  events: StenoEvent[],
  pred: (e: StenoEvent) => boolean,
  timeoutMs = 30_000,
): Promise<StenoEvent> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const found = events.find(pred);
      if (found) {
        clearInterval(poll);
        resolve(found);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(poll);
        reject(new Error('timed out waiting for an event'));
      }
    }, 20);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The scenario over any StenoClient: what the window does, through whichever transport. */
async function scenario(client: StenoClient): Promise<void> {
  const events: StenoEvent[] = [];
  const unsubscribe = client.onEvent((e) => events.push(e));
  try {
    const live = await client.startRecording({});
    expect(live.state).toBe('recording');
    await waitForEvent(events, (e) => e.type === 'host.state' && e.state === 'ready', 60_000);
    await waitForEvent(events, (e) => e.type === 'recording.progress' && e.elapsedS > 1);
    await playIntoMic(sentence);
    const segment = await waitForEvent(events, (e) => e.type === 'transcript.segment');
    expect(segment.type === 'transcript.segment' && segment.segment.text).toBe(models.text);

    expect((await client.pauseRecording({})).state).toBe('paused');
    const pausedAt = (await client.getState({})).recording!.elapsedS;
    await sleep(1500);
    // Nothing is recorded while paused.
    expect((await client.getState({})).recording!.elapsedS).toBeCloseTo(pausedAt, 1);
    expect((await client.resumeRecording({})).state).toBe('recording');
    await sleep(1000);

    expect(await client.renameSpeaker({ id: live.id, speaker: 0, name: 'Ada' })).toEqual({
      speaker: 0,
      name: 'Ada',
    });
    const summary = await client.stopRecording({});
    expect(summary).toMatchObject({ id: live.id, state: 'complete', stopReason: 'user' });
    await waitForEvent(events, (e) => e.type === 'transcript.finished' && e.id === live.id, 60_000);

    const list = await client.listRecordings({});
    expect(list.recordings.map((r) => r.id)).toContain(live.id);
    const t = await client.getTranscript({ id: live.id });
    expect(t.segments.length).toBeGreaterThanOrEqual(1);
    expect(t.segments[0]!.text).toBe(models.text);
    expect(t.speakerNames['0']).toBe('Ada');
    // The states arrived in order, each once.
    const states = events
      .filter((e) => e.type === 'recording.state')
      .map((e) => (e.type === 'recording.state' ? e.recording.state : ''));
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual([
      'recording',
      'paused',
      'recording',
      'stopping',
    ]);
  } finally {
    unsubscribe();
  }
}

describe('one scenario through every adapter', () => {
  it('the CLI: steno record --json, paused and resumed on stdin', async () => {
    const out = path.join(home, 'cli');
    const rec = new StenoProcess(
      [
        'record',
        '--json',
        '--out',
        out,
        '--whisper-model',
        models.whisper,
        '--embedding-model',
        models.embedding,
      ],
      { STENO_HOME: home },
      { stdin: 'pipe' },
    );
    await rec.waitFor((e) => e.type === 'host.state' && e.state === 'ready', 60_000);
    await rec.waitFor(progressPast(1));
    await playIntoMic(sentence);
    const seg = await rec.waitFor((e) => e.type === 'transcript.segment', 30_000);
    expect((seg.segment as { text: string }).text).toBe(models.text);
    rec.child.stdin!.write('pause\n');
    await rec.waitFor(
      (e) => e.type === 'recording.state' && (e.recording as { state: string }).state === 'paused',
    );
    await sleep(1000);
    rec.child.stdin!.write('resume\n');
    await rec.waitFor(
      (e) =>
        e.type === 'recording.state' &&
        (e.recording as { state: string }).state === 'recording' &&
        rec.events.some(
          (x) =>
            x.type === 'recording.state' && (x.recording as { state: string }).state === 'paused',
        ),
    );
    rec.child.stdin!.write('stop\n');
    const { code } = await rec.exited;
    expect(code, rec.stderr).toBe(0);
    expect(recordingEnd(rec.events)).toMatchObject({ state: 'complete', reason: 'user' });
    expect(rec.last('transcript.finished')).toBeDefined();
    // Every stdout line was one of Steno's own JSON objects (no native output).
    const id = rec.started()!.id;

    const renamed = await runSteno(['rename-speaker', id, '1', 'Ada', '--out', out], {
      STENO_HOME: home,
    });
    expect(renamed.code, renamed.stderr).toBe(0);
    const list = await runSteno(['list', '--json', '--out', out], { STENO_HOME: home });
    const page = list.events.find((e) => Array.isArray(e.recordings)) as unknown as {
      recordings: { id: string; state: string }[];
    };
    expect(page.recordings.map((r) => r.id)).toContain(id);
    const printed = await runSteno(['transcript', id, '--json', '--out', out], {
      STENO_HOME: home,
    });
    const t = printed.events[0] as unknown as {
      segments: { text: string }[];
      speakerNames: Record<string, string>;
    };
    expect(t.segments[0]!.text).toBe(models.text);
    expect(t.speakerNames['0']).toBe('Ada');
    for (const line of printed.stdout.trim().split('\n')) expect(line.startsWith('{')).toBe(true);
  }, 180_000);

  it('the Electron IPC handler layer, through the preload bridge', async () => {
    const service = await StenoService.create({
      dataDir: path.join(home, 'ipc'),
      version: 'test',
    });
    service.settings.override({ whisperModel: models.whisper, embeddingModel: models.embedding });
    const location = resolveRendererLocation({
      appPath: '/opt/steno',
      isPackaged: true,
      devServerUrl: undefined,
    });
    const ipcMain = new FakeIpcMain();
    const app = new FakeApp();
    const handlers = registerApiHandlers(ipcMain, location, service, app);
    const { contents, ipcRenderer } = openWiredWindow(ipcMain, app, location.url.href);
    try {
      await scenario(preloadClient(createStenoBridge(ipcRenderer)));
    } finally {
      contents.destroy();
      handlers.dispose();
      await service.shutdown();
      service.dispose();
    }
  }, 180_000);

  it('a WebSocket client against steno serve', async () => {
    const serve = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'steno.js'), 'serve', '--json', '--out', path.join(home, 'ws')],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          STENO_HOME: home,
          STENO_WHISPER_MODEL: models.whisper,
          STENO_EMBEDDING_MODEL: models.embedding,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    serve.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-5000)));
    const exited = new Promise<number | null>((resolve) => serve.on('exit', resolve));
    const first = await new Promise<string>((resolve) =>
      readline.createInterface({ input: serve.stdout! }).once('line', resolve),
    );
    const serving = JSON.parse(first) as { type: string; url: string };
    expect(serving.type).toBe('serving');
    const url = new URL(serving.url);
    const apiUrl = `ws://${url.host}/api?token=${url.searchParams.get('token')}`;
    const client = createWebSocketClient({
      url: apiUrl,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    try {
      await scenario(client);
    } finally {
      client.dispose();
      serve.kill('SIGINT');
      expect(await exited, stderr).toBe(0);
    }
  }, 180_000);
});
