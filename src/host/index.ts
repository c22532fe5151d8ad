/**
 * The model host: a separate process that owns the models (Silero VAD,
 * Whisper, the speaker-embedding model), so ending it is how their memory is
 * given back to the operating system. Started by `utilityProcess.fork` in
 * Electron and `child_process.fork` in Node; ./parent-port hides the
 * difference. It exits on `shutdown`, and when its parent disconnects: it must
 * never outlive the app. The protocol is in src/core/host-protocol.ts.
 */
import { StenoError, isStenoError } from '../core/errors';
import { DisposableStore } from '../core/lifecycle';
import {
  parseMainToHost,
  type HostOptions,
  type HostModelPaths,
  type HostToMain,
  type MainToHost,
  type WireError,
} from '../core/host-protocol';
import { NoParentError, connectToParent, type ParentPort } from './parent-port';
import { TranscriptionPipeline } from './transcription-pipeline';

interface LoadedModels {
  pipeline: TranscriptionPipeline;
  dispose(): Promise<void>;
}

function toWire(e: unknown): WireError {
  if (isStenoError(e)) return e.toJSON();
  return {
    code: 'HOST_FAILED',
    message: `The model host failed: ${(e as Error)?.message ?? String(e)}.`,
    action: 'Steno restarts it automatically; if this repeats, check the model files.',
  };
}

/** Loads the three models; native modules are imported only here, in the host. */
async function loadModels(
  models: HostModelPaths,
  options: HostOptions,
  send: (m: HostToMain) => void,
): Promise<LoadedModels & { info: { whisper: string; embeddingDimension: number } }> {
  const [{ WhisperEngine }, { SileroVad }, { SpeakerEmbedder }] = await Promise.all([
    import('./whisper-engine'),
    import('./silero-vad'),
    import('./speaker-embedder'),
  ]);
  const owned: { dispose(): void }[] = [];
  try {
    // Validation happens inside each create/load before anything native is
    // touched with the file, so a bad file is an error message, not a crash.
    const vad = await SileroVad.create(models.vad);
    owned.push(vad);
    const embedder = await SpeakerEmbedder.create(models.embedding);
    owned.push(embedder);
    const whisper = await WhisperEngine.load(models.whisper, { threads: options.threads });
    owned.push(whisper);
    const pipeline = new TranscriptionPipeline(vad, whisper, embedder, options, {
      segment: (segment, committedSample) => send({ type: 'segment', segment, committedSample }),
      partial: (partial) => send({ type: 'partial', partial }),
    });
    return {
      pipeline,
      info: { whisper: models.whisper, embeddingDimension: embedder.dimension },
      async dispose() {
        pipeline.dispose();
        // Whisper's dispose waits for a running transcription: free() during
        // one would crash the process.
        for (const m of owned.reverse()) m.dispose();
      },
    };
  } catch (e) {
    for (const m of owned.reverse()) m.dispose();
    throw e;
  }
}

function runHost(port: ParentPort): void {
  const store = new DisposableStore();
  const send = (message: HostToMain): void => port.postMessage(message);
  let loaded: LoadedModels | null = null;
  /** Set by the first configure: from then on native work may be in flight. */
  let modelsRequested = false;
  // Messages that touch the pipeline run one after another. The chain holds at
  // most MAX_UNACKED_CHUNKS audio messages plus a flush: main sends no more.
  let chain: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>, id: number | null): void => {
    chain = chain.then(work).catch((e: unknown) => send({ type: 'error', id, error: toWire(e) }));
  };

  const exit = async (code: number): Promise<void> => {
    store.dispose();
    await loaded?.dispose();
    process.exit(code);
  };

  const handle = (message: MainToHost): void => {
    switch (message.type) {
      case 'ping':
        send({ type: 'pong', id: message.id, rssBytes: process.memoryUsage().rss } as HostToMain);
        return;
      case 'shutdown':
        void exit(0);
        return;
      case 'configure':
        modelsRequested = true;
        enqueue(async () => {
          if (loaded)
            throw new StenoError(
              'INVALID_STATE',
              'The model host is already configured.',
              'Start a new host.',
            );
          const result = await loadModels(message.models, message.options, send);
          loaded = result;
          send({ type: 'ready', id: message.id, info: { ...result.info, pid: process.pid } });
        }, message.id);
        return;
      case 'audio':
        enqueue(async () => {
          if (!loaded) throw notConfigured();
          await loaded.pipeline.accept(message.startSample, message.samples);
          send({ type: 'ack', seq: message.seq, committedSample: loaded.pipeline.committedSample });
        }, null);
        return;
      case 'flush':
        enqueue(async () => {
          if (!loaded) throw notConfigured();
          await loaded.pipeline.flush(message.endSample);
          send({
            type: 'flushed',
            id: message.id,
            committedSample: loaded.pipeline.committedSample,
          });
        }, message.id);
        return;
      case 'reset':
        send({
          type: 'error',
          id: message.id,
          error: toWire(
            new StenoError(
              'INVALID_STATE',
              'reset is not supported; start a new host.',
              'Restart the host.',
            ),
          ),
        });
        return;
    }
  };

  store.add(
    port.onDidReceiveMessage((raw) => {
      const message = parseMainToHost(raw);
      if (!message) {
        // In the protocol's own shape, so main can read it like any other error.
        send({
          type: 'error',
          id: null,
          error: {
            code: 'INVALID_PAYLOAD',
            message: 'The model host received a message it does not know.',
            action: 'This is a bug in Steno; the message was ignored.',
          },
        });
        return;
      }
      handle(message);
    }),
  );
  store.add(
    port.onDidDisconnect(() => {
      // The parent is gone (Steno never disconnects a host it still wants):
      // nobody is left to report to and the OS takes back everything. Once
      // models were asked for, native work (a model load, a transcription) may
      // be running in libuv's thread pool, and process.exit() joins that pool
      // first: after `steno record` was killed with SIGKILL, its host lived on
      // for 3-12 s, until the transcription in flight ended. Ending with SIGKILL
      // does not wait for it.
      if (modelsRequested) process.kill(process.pid, 'SIGKILL');
      else void exit(0);
    }),
  );
  process.on('uncaughtException', (e) => {
    try {
      send({ type: 'error', id: null, error: toWire(e) });
    } finally {
      process.exit(1);
    }
  });
}

function notConfigured(): StenoError {
  return new StenoError(
    'INVALID_STATE',
    'The model host has no models loaded.',
    'Send configure first.',
  );
}

try {
  runHost(connectToParent());
} catch (error) {
  if (!(error instanceof NoParentError)) throw error;
  console.error(error.message);
  process.exit(2);
}
