/**
 * Keeps the store in step with a client: every event goes to the store, the
 * whole state is fetched on connect, and after every resynchronisation (a
 * `state` event) the live transcript's last page is fetched again, since the
 * segments a resync skipped are not in the state. The buttons' commands go
 * through `createControls`, which records what failed for the person to read.
 */
import type { StenoClient } from '../../core/api/client';
import type { CommandName } from '../../core/api/commands';
import { isStenoError } from '../../core/errors';
import { toDisposable, type IDisposable } from '../../core/lifecycle';
import { MAX_LIVE_SEGMENTS, type Problem, type StenoStore } from '../store';

/** Any rejection as a problem a person can read. */
export function toProblem(e: unknown, context: string): Problem {
  if (isStenoError(e)) return { code: e.code, message: e.message, action: e.action, context };
  return {
    code: 'INTERNAL',
    message: `Something went wrong (${context}): ${(e as Error)?.message ?? String(e)}.`,
    action: 'Reload the window; if it happens again, restart Steno.',
    context,
  };
}

export function syncStore(client: StenoClient, store: StenoStore): IDisposable {
  let disposed = false;
  let refilling = false;
  let refillAgain = false;

  /** Fetches the last page of the live recording's transcript; one fetch at a time. */
  async function refillSegments(): Promise<void> {
    if (refilling) {
      refillAgain = true;
      return;
    }
    refilling = true;
    try {
      do {
        refillAgain = false;
        const id = store.getState().recording?.id;
        if (!id || disposed) return;
        const head = await client.getTranscript({ id, limit: 1 });
        const offset = Math.max(0, head.total - MAX_LIVE_SEGMENTS);
        const page = await client.getTranscript({ id, offset, limit: MAX_LIVE_SEGMENTS });
        if (disposed) return;
        store.getState().mergeSegments(id, page.segments, page.speakerNames);
      } while (refillAgain);
    } catch (e) {
      if (!disposed) store.getState().reportProblem(toProblem(e, 'transcript'));
    } finally {
      refilling = false;
    }
  }

  const unsubscribe = client.onEvent((event) => {
    store.getState().applyEvent(event);
    if (event.type === 'state') void refillSegments();
  });

  void (async () => {
    try {
      const [info, state] = await Promise.all([client.appInfo({}), client.getState({})]);
      if (disposed) return;
      store.getState().connectionOpened(info);
      store.getState().applyEvent({ type: 'state', state });
      await refillSegments();
    } catch (e) {
      if (!disposed) store.getState().connectionFailed(toProblem(e, 'connecting'));
    }
  })();

  return toDisposable(() => {
    disposed = true;
    unsubscribe();
  });
}

export interface RecordingControls {
  start(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The recording buttons' commands; a failure becomes the store's problem. */
export function createControls(client: StenoClient, store: StenoStore): RecordingControls {
  async function run(command: CommandName, body: () => Promise<void>): Promise<void> {
    store.getState().commandStarted(command);
    try {
      await body();
    } catch (e) {
      store.getState().reportProblem(toProblem(e, command));
    } finally {
      store.getState().commandFinished(command);
    }
  }
  return {
    start: () =>
      run('startRecording', async () =>
        store.getState().recordingChanged(await client.startRecording({})),
      ),
    pause: () =>
      run('pauseRecording', async () =>
        store.getState().recordingChanged(await client.pauseRecording({})),
      ),
    resume: () =>
      run('resumeRecording', async () =>
        store.getState().recordingChanged(await client.resumeRecording({})),
      ),
    stop: () =>
      run('stopRecording', async () =>
        store.getState().recordingStopped(await client.stopRecording({})),
      ),
  };
}
