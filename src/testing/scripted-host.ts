import { Emitter } from '../core/event';
import { Disposable } from '../core/lifecycle';
import { parseHostToMain, type HostToMain, type MainToHost } from '../core/host-protocol';
import type { HostConnection, HostExit } from '../main/transcription/host-process';

export interface ReceivedChunk {
  seq: number;
  startSample: number;
  length: number;
}

/**
 * An in-process stand-in for the model host, for tests of what talks to it:
 * answers configure, ping, flush and shutdown as the real host does, and
 * acknowledges audio chunks (or holds the acknowledgements back, to test
 * flow control). It commits audio up to `commitUpTo` (default: all of it),
 * as the real host commits audio once its utterances are done.
 */
/** The resident size a scripted host reports when pinged. */
export const SCRIPTED_HOST_RSS_BYTES = 50 * 1024 * 1024;

export class ScriptedHost extends Disposable implements HostConnection {
  private readonly messages = this._register(new Emitter<HostToMain>());
  private readonly exits = this._register(new Emitter<HostExit>());
  readonly onDidMessage = this.messages.event;
  readonly onDidExit = this.exits.event;
  readonly pid = undefined;
  readonly stderrTail = '';
  /** Raw messages (emitRaw) that failed the protocol's validator and were dropped. */
  malformedMessages = 0;
  private resolveExit!: (e: HostExit) => void;
  readonly exited = new Promise<HostExit>((r) => (this.resolveExit = r));
  private done = false;
  /** Audio chunks received, in arrival order. Unbounded: a test's own record. */
  readonly received: ReceivedChunk[] = [];
  /** Acknowledgements not sent yet while `holdAcks` is set. */
  private readonly heldAcks: number[] = [];
  private receivedEnd = 0;

  constructor(
    private readonly script: {
      holdAcks?: boolean;
      commitUpTo?: number;
      /** false: pings go unanswered, as from a host busy in a long native call. */
      answerPings?: boolean;
      /** false: a flush is never answered (a host stuck on the last utterance). */
      answerFlush?: boolean;
      /** false: shutdown is ignored, as by a host inside a long native call. */
      exitOnShutdown?: boolean;
    } = {},
  ) {
    super();
  }

  send(m: MainToHost): void {
    queueMicrotask(() => {
      if (this.done) return;
      switch (m.type) {
        case 'configure':
          this.messages.fire({
            type: 'ready',
            id: m.id,
            info: { whisper: 'scripted', embeddingDimension: 4, pid: 0 },
          });
          break;
        case 'audio':
          this.received.push({ seq: m.seq, startSample: m.startSample, length: m.samples.length });
          this.receivedEnd = m.startSample + m.samples.length;
          if (this.script.holdAcks) this.heldAcks.push(m.seq);
          else this.ack(m.seq);
          break;
        case 'flush':
          if (this.script.answerFlush === false) break;
          this.messages.fire({ type: 'flushed', id: m.id, committedSample: m.endSample });
          break;
        case 'ping':
          if (this.script.answerPings !== false) {
            this.messages.fire({ type: 'pong', id: m.id, rssBytes: SCRIPTED_HOST_RSS_BYTES });
          }
          break;
        case 'shutdown':
          if (this.script.exitOnShutdown !== false) this.exit({ code: 0, signal: null });
          break;
        case 'reset':
          break;
      }
    });
  }

  /** Sends a message as the host would (a segment, a partial, an error). */
  emit(message: HostToMain): void {
    if (!this.done) this.messages.fire(message);
  }

  /**
   * Sends anything, as a broken host could: it goes through the protocol's
   * validator as on a real connection, and is dropped (and counted) if malformed.
   */
  emitRaw(raw: unknown): void {
    if (this.done) return;
    const m = parseHostToMain(raw);
    if (m) this.messages.fire(m);
    else this.malformedMessages++;
  }

  /** Sends the acknowledgements held back so far. */
  releaseAcks(): void {
    for (const seq of this.heldAcks.splice(0)) this.ack(seq);
  }

  kill(): void {
    this.exit({ code: null, signal: 'SIGKILL' });
  }

  private ack(seq: number): void {
    if (this.done) return;
    const committedSample = Math.min(this.receivedEnd, this.script.commitUpTo ?? Infinity);
    this.messages.fire({ type: 'ack', seq, committedSample });
  }

  private exit(e: HostExit): void {
    if (this.done) return;
    this.done = true;
    this.resolveExit(e);
    this.exits.fire(e);
  }
}

/**
 * A launcher that starts a new scripted host each time (as the supervisor
 * restarts one), keeping every host it made so a test can drive and dispose
 * them.
 */
export function scriptedLauncher(
  make: (index: number) => ScriptedHost = () => new ScriptedHost(),
): {
  launcher: () => ScriptedHost;
  hosts: ScriptedHost[];
} {
  const hosts: ScriptedHost[] = [];
  return {
    hosts,
    launcher: () => {
      const host = make(hosts.length);
      hosts.push(host);
      return host;
    },
  };
}
