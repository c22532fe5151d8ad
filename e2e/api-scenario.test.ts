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
import { isProcessAlive } from '../src/main/process-alive';
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
    // One voice: the person says so, and the utterance is one segment (the
    // speaker-change path is the diarization tests' and benchmark's).
    const live = await client.startRecording({ speakers: 1 });
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

/** `steno serve --json` on a free port; resolves once it listens. */
async function startServe(out: string) {
  const serve = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'steno.js'), 'serve', '--json', '--out', out],
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
  const lines: string[] = [];
  const rl = readline.createInterface({ input: serve.stdout! });
  rl.on('line', (l) => lines.push(l));
  const first = await new Promise<string>((resolve) => rl.once('line', resolve));
  const serving = JSON.parse(first) as { type: string; url: string };
  const url = new URL(serving.url);
  return {
    serve,
    serving,
    lines,
    exited,
    stderr: () => stderr,
    apiUrl: `ws://${url.host}/api?token=${url.searchParams.get('token')}`,
  };
}

describe('one scenario through every adapter', () => {
  it('the CLI: steno record --json, paused and resumed on stdin', async () => {
    const out = path.join(home, 'cli');
    const rec = new StenoProcess(
      [
        'record',
        '--json',
        '--speakers',
        '1',
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
    expect(rec.strayStdout).toEqual([]);
    expect(rec.stderr).not.toMatch(/ALSA lib|Input audio options|Finishing input/);
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
    const server = await startServe(path.join(home, 'ws'));
    expect(server.serving.type).toBe('server.listening');
    const client = createWebSocketClient({
      url: server.apiUrl,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    try {
      await scenario(client);
    } finally {
      client.dispose();
      server.serve.kill('SIGINT');
      expect(await server.exited, server.stderr()).toBe(0);
    }
  }, 180_000);

  it('Ctrl-C to steno serve finishes the recording in progress first', async () => {
    const out = path.join(home, 'ws-stop');
    const server = await startServe(out);
    const client = createWebSocketClient({
      url: server.apiUrl,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    const events: StenoEvent[] = [];
    const unsubscribe = client.onEvent((e) => events.push(e));
    let id: string;
    try {
      id = (await client.startRecording({})).id;
      await waitForEvent(events, (e) => e.type === 'recording.progress' && e.elapsedS > 1.5);
    } finally {
      unsubscribe();
      client.dispose();
    }
    server.serve.kill('SIGINT');
    expect(await server.exited, server.stderr()).toBe(0);
    expect(server.lines.map((l) => (JSON.parse(l) as { type: string }).type)).toContain(
      'server.stopped',
    );
    const list = await runSteno(['list', '--json', '--out', out], { STENO_HOME: home });
    const page = list.events.find((e) => Array.isArray(e.recordings)) as unknown as {
      recordings: { id: string; state: string; stopReason: string; durationS: number }[];
    };
    expect(page.recordings.find((r) => r.id === id)).toMatchObject({
      state: 'complete',
      stopReason: 'shutdown',
    });
    expect(page.recordings[0]!.durationS).toBeGreaterThan(1.5);
  }, 180_000);

  it('unload models now: the host ends, its memory is freed, the recording goes on', async () => {
    const service = await StenoService.create({
      dataDir: path.join(home, 'unload'),
      version: 'test',
    });
    service.settings.override({ whisperModel: models.whisper, embeddingModel: models.embedding });
    const events: StenoEvent[] = [];
    const sub = service.onDidEvent((e) => events.push(e));
    try {
      await service.call('startRecording', {});
      const ready = await waitForEvent(
        events,
        (e) => e.type === 'host.state' && e.state === 'ready',
        60_000,
      );
      const pid = ready.type === 'host.state' ? ready.pid! : -1;
      expect(isProcessAlive(pid)).toBe(true);
      const outcome = await service.call('unloadModels', {});
      expect(outcome.ok).toBe(true);
      const r = (
        outcome as {
          result: {
            hostWasRunning: boolean;
            freedBytes: number;
            treeRssBeforeBytes: number;
            treeRssAfterBytes: number;
          };
        }
      ).result;
      console.log(
        `unload: tree RSS ${(r.treeRssBeforeBytes / 2 ** 20).toFixed(1)} -> ${(r.treeRssAfterBytes / 2 ** 20).toFixed(1)} MiB (freed ${(r.freedBytes / 2 ** 20).toFixed(1)} MiB)`,
      );
      expect(r.hostWasRunning).toBe(true);
      // The host's models (Whisper, VAD, speaker embedding) are tens of MB.
      expect(r.freedBytes).toBeGreaterThan(20 * 2 ** 20);
      expect(r.treeRssAfterBytes).toBeLessThan(r.treeRssBeforeBytes);
      expect(isProcessAlive(pid)).toBe(false);
      expect(service.currentState()).toMatchObject({
        hostState: 'stopped',
        recording: { state: 'recording', transcribing: false },
      });
      await sleep(1000);
      const stopped = await service.call('stopRecording', {});
      expect(stopped).toMatchObject({ ok: true, result: { state: 'complete' } });
    } finally {
      sub.dispose();
      await service.shutdown();
      service.dispose();
    }
  }, 120_000);
});
