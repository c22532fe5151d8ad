/**
 * `steno record`: argument parsing and printing only. The recording, the
 * live transcript, auto-stop and recovery are the recorder service's; this
 * file turns flags into settings for this run and the API's events into lines.
 */
import readline from 'node:readline';
import { StenoError } from '../core/errors';
import { formatSegmentLine, MAX_SPEAKER_COUNT, type SpeakerCount } from '../core/transcript';
import type { StenoEvent } from '../core/api/events';
import type { Settings } from '../core/api/types';
import type { Terminal } from '../main/terminal';
import { call } from '../main/services/service-client';
import { openServiceForCli } from './open-service';
import { watchStopSignals } from './stop-signals';
import { printRecovery } from './recovery-output';
import { printTranscript } from './transcript-command';

export interface RecordOptions {
  device?: string | boolean;
  seconds?: string | boolean;
  out?: string | boolean;
  json?: string | boolean;
  transcript?: string | boolean;
  partials?: string | boolean;
  'whisper-model'?: string | boolean;
  'embedding-model'?: string | boolean;
  language?: string | boolean;
  threads?: string | boolean;
  'max-tokens'?: string | boolean;
  speakers?: string | boolean;
}

export async function runRecord(opts: RecordOptions, terminal: Terminal): Promise<number> {
  // Every flag is checked before the device opens: a typo must not leave a half-started recording.
  const deviceId =
    opts.device === undefined ? undefined : parseInteger(String(opts.device), '--device');
  const seconds =
    opts.seconds === undefined ? undefined : parsePositive(String(opts.seconds), '--seconds');
  const overrides: Partial<Settings> = {
    liveTranscript: opts.transcript !== false,
    partials: opts.partials !== false,
    ...(typeof opts['whisper-model'] === 'string' ? { whisperModel: opts['whisper-model'] } : {}),
    ...(typeof opts['embedding-model'] === 'string'
      ? { embeddingModel: opts['embedding-model'] }
      : {}),
    ...(typeof opts.language === 'string' ? { language: opts.language } : {}),
    ...(opts.threads !== undefined
      ? { whisperThreads: parseCount(String(opts.threads), '--threads') }
      : {}),
    ...(opts['max-tokens'] !== undefined
      ? { maxTokens: parseCount(String(opts['max-tokens']), '--max-tokens') }
      : {}),
    ...(opts.speakers !== undefined ? { speakers: parseSpeakers(String(opts.speakers)) } : {}),
  };
  const json = Boolean(opts.json);
  const service = await openServiceForCli(
    typeof opts.out === 'string' ? opts.out : undefined,
    terminal,
  );
  try {
    service.settings.override(overrides);
    const print = json ? jsonPrinter(terminal) : textPrinter(terminal);
    if (json) terminal.out(JSON.stringify(service.recoveryEvent()) + '\n');
    else printRecovery(service.recovery, terminal);

    let failed: StenoEvent | null = null;
    let finished: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => (finished = resolve));
    const subscription = service.onDidEvent((e) => {
      print(e);
      if (e.type === 'recording.failed') failed = e;
      if (e.type === 'recording.failed' || e.type === 'recording.finished') finished(e.type);
    });
    // Ctrl-C is ours from here on: one that comes while the models load
    // stops the recording once it has started, instead of killing the process.
    const signals = watchStopSignals(terminal, () => process.exit(130));
    try {
      const live = await call(
        service,
        'startRecording',
        deviceId === undefined ? {} : { deviceId },
      );
      const controls = listenForControls(async (command) => {
        const state = service.currentState().recording?.state;
        const want = command === 'toggle' ? (state === 'paused' ? 'resume' : 'pause') : command;
        const outcome = await service.call(
          want === 'pause' ? 'pauseRecording' : 'resumeRecording',
          {},
        );
        if (!outcome.ok)
          terminal.err(`steno: ${StenoError.fromWire(outcome.error).toUserString()}\n`);
        else if (!json) terminal.err(want === 'pause' ? '\nPaused.\n' : '\nResumed.\n');
      });
      if (!json) {
        terminal.err(
          `Recording from "${live.device}" at ${live.sampleRate} Hz to ${live.audioPath}\n` +
            (controls.interactive
              ? 'Press space to pause or resume, q or Ctrl-C to stop.\n'
              : 'Press Ctrl-C to stop.\n'),
        );
      }
      const reason = await untilStopAsked(seconds, [
        signals.first,
        ended,
        controls.stopRequested,
      ]).finally(() => controls.dispose());
      // Auto-stop or a failure ended it already; otherwise the person did.
      if (reason !== 'recording.failed' && reason !== 'recording.finished') {
        await call(service, 'stopRecording', {});
      }
      if (!json && terminal.errIsTTY) terminal.err('\n');
      if (!json && live.transcribing) terminal.err('Finishing the transcript...\n');
      await service.recorder.whenIdle();
      if (!json && live.transcribing) {
        terminal.out('\nTranscript (speakers re-clustered):\n');
        await printTranscript(service, live.id, terminal);
      }
      const error = failed as Extract<StenoEvent, { type: 'recording.failed' }> | null;
      if (error) {
        terminal.err(`steno: ${StenoError.fromWire(error.error).toUserString()}\n`);
        terminal.err(
          `The audio recorded until then is in ${live.audioPath} (${error.recording.durationS.toFixed(1)} s).\n`,
        );
        return 1;
      }
      if (!json) terminal.err(`Saved to ${live.audioPath}\n`);
      return 0;
    } finally {
      signals.dispose();
      subscription.dispose();
    }
  } finally {
    await service.shutdown();
    service.dispose();
  }
}

/**
 * Pause, resume and stop while recording, from standard input: at a terminal
 * single keys (space pauses or resumes; q, Enter or Ctrl-C stops), from a
 * program lines (`pause`, `resume`, `stop`).
 */
function listenForControls(onPauseResume: (c: 'pause' | 'resume' | 'toggle') => Promise<void>): {
  interactive: boolean;
  stopRequested: Promise<string>;
  dispose(): void;
} {
  const stdin = process.stdin;
  const interactive = stdin.isTTY === true;
  let requestStop: (why: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  // One command at a time: a burst of keys cannot interleave pause and resume.
  let chain = Promise.resolve();
  const run = (c: 'pause' | 'resume' | 'toggle') => {
    chain = chain.then(() => onPauseResume(c));
  };
  let rl: readline.Interface | null = null;
  const onKey = (data: Buffer) => {
    for (const ch of data.toString('utf8')) {
      if (ch === ' ') run('toggle');
      else if (ch === 'q' || ch === '\r' || ch === '\u0003') requestStop('key');
    }
  };
  if (interactive) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  } else {
    rl = readline.createInterface({ input: stdin });
    rl.on('line', (line) => {
      const word = line.trim();
      if (word === 'pause' || word === 'resume') run(word);
      else if (word === 'stop') requestStop('stdin');
    });
  }
  return {
    interactive,
    stopRequested,
    dispose() {
      if (interactive) {
        stdin.off('data', onKey);
        stdin.setRawMode(false);
      }
      rl?.close();
      stdin.pause();
    },
  };
}

/** Resolves with why the recording should stop: --seconds, or the first of `reasons`. */
function untilStopAsked(seconds: number | undefined, reasons: Promise<string>[]): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed =
    seconds === undefined
      ? []
      : [
          new Promise<string>(
            (resolve) => (timer = setTimeout(() => resolve('time'), seconds * 1000)),
          ),
        ];
  return Promise.race([...reasons, ...elapsed]).finally(() => clearTimeout(timer));
}

/**
 * --json: the API's own events, one per line. The events fired together (a
 * read's level and progress) go out in one write, at the end of the turn that
 * fired them. Capacity of `pending`: the events of one turn of the event loop.
 */
function jsonPrinter(terminal: Terminal): (e: StenoEvent) => void {
  let pending = '';
  const flush = () => {
    const text = pending;
    pending = '';
    terminal.out(text);
  };
  return (e) => {
    // A resolved promise, not queueMicrotask: Node wraps each queueMicrotask
    // callback in an AsyncResource, a cost paid at every captured chunk.
    if (pending === '') void Promise.resolve().then(flush);
    pending += JSON.stringify(e) + '\n';
  };
}

/** A person at a terminal: segments on stdout, problems on stderr, a level meter on a TTY. */
function textPrinter(terminal: Terminal): (e: StenoEvent) => void {
  let peak = -120;
  const names = { speakerNames: {} as Record<number, string> };
  return (e) => {
    switch (e.type) {
      case 'recording.level':
        peak = e.peakDbfs;
        return;
      case 'recording.progress': {
        if (!terminal.errIsTTY) return;
        const bars = Math.max(0, Math.min(30, Math.round((peak + 60) / 2)));
        terminal.err(
          `\r${e.elapsedS.toFixed(1).padStart(7)} s  [${'#'.repeat(bars).padEnd(30)}] ${peak.toFixed(0).padStart(4)} dBFS`,
        );
        return;
      }
      case 'transcript.segment':
        terminal.out(formatSegmentLine(names, e.segment) + '\n');
        return;
      case 'host.state':
        if (e.state === 'crashed') {
          terminal.err(`steno: the model host stopped (${e.detail ?? 'unknown'}).\n`);
        }
        return;
      case 'recording.finished':
        if (e.reason === 'silence' || e.reason === 'max-duration') {
          terminal.err(
            `\nsteno: stopped automatically (${e.reason === 'silence' ? 'silence' : 'the longest recording the settings allow'}).\n`,
          );
        }
        return;
      case 'error':
        terminal.err(`steno: ${StenoError.fromWire(e.error).toUserString()}\n`);
        return;
      default:
        return;
    }
  };
}

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a whole number, got "${text}".`,
      'Run `steno devices` for device ids.',
    );
  }
  return Number.parseInt(text, 10);
}

function parseSpeakers(text: string): SpeakerCount {
  if (text === 'auto') return 'auto';
  if (/^\d{1,2}$/.test(text)) {
    const n = Number.parseInt(text, 10);
    if (n >= 1 && n <= MAX_SPEAKER_COUNT) return n;
  }
  throw new StenoError(
    'INVALID_ARGUMENT',
    `--speakers needs "auto" or a number from 1 to ${MAX_SPEAKER_COUNT}, got "${text}".`,
    'For example: --speakers 3, or leave it out to let Steno count the speakers.',
  );
}

function parseCount(text: string, flag: string): number {
  if (!/^[1-9]\d{0,3}$/.test(text)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a whole number from 1 to 9999, got "${text}".`,
      `For example: ${flag} 2.`,
    );
  }
  return Number.parseInt(text, 10);
}

function parsePositive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a positive number of seconds, got "${text}".`,
      'For example: --seconds 30.',
    );
  }
  return n;
}
