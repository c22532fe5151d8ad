/**
 * Crash recovery as a power cut would test it: known speech plays into the
 * virtual microphone, the real `steno record` (live transcript on, so a model
 * host child exists) is killed with SIGKILL at a random moment, the next
 * `steno list` recovers the recording, and the recovered file is compared
 * with what was played. One call runs N kills and returns the figures that
 * bench/crash-recovery.bench.ts prints and e2e/crash-recovery.test.ts asserts.
 *
 * Definitions (per kill):
 * - start: the moment this process reads the CLI's `recording.state` line. The
 *   recorder fires it right after the capture stream started, so audio can only
 *   have been captured from (at most a pipe's latency before) this moment.
 * - captured_s: kill moment - start. lost_s: captured_s - recovered_s, where
 *   recovered_s is the recovered WAV's sample count / rate. Device start-up
 *   latency and audio still inside PulseAudio or PortAudio at the kill count as
 *   lost: the figure is never in Steno's favour by more than that pipe latency.
 * - correlation: the recovered samples aligned by cross-correlation against the
 *   played track (searched at 16 kHz, refined at 48 kHz), normalised as in
 *   ./correlation: 1 means the same audio up to gain, over the whole recovered span.
 * - orphans: descendants of the CLI listed just before the kill that are still
 *   running (not exited, not zombies) after the grace period.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../../src/core/prng';
import { TEMP_SUFFIX } from '../../src/main/temp-files';
import { MARKER_FILE } from '../../src/main/recording/recordings-store';
import { round } from '../../bench/support';
import { descendants } from '../../src/testing/process-tree';
import { readMonoSamples, soxDuration } from './audio';
import { runSteno, StenoProcess, type CliEvent } from './steno-cli';
import { otherStreamsIntoMic, startPlayingIntoMic } from './virtual-mic';
import { bestNormalizedCorrelation } from '../../src/testing/correlation';
import { ensureSyntheticMeeting } from '../../src/testing/synthetic-meeting';
import { testModels } from '../../src/testing/test-models';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../src/testing/tmp';

export const CRASH_BOUNDS = { maxLostS: 2, minCorrelation: 0.95 } as const;
/** Kill moments are uniform in this window, seconds after the recording started. */
export const KILL_WINDOW_S = { min: 0.5, max: 30 } as const;

export interface CrashRecoveryOptions {
  kills: number;
  seed: number;
  /** Progress lines (one per kill). */
  log?: (line: string) => void;
  /** How long the killed CLI's descendants get to notice and exit. */
  graceMs?: number;
}

export interface CrashRecoveryResult {
  kills: number;
  recovered: number;
  max_lost_s: number;
  min_correlation: number;
  temp_files_left: number;
  orphan_processes: number;
  seed: number;
  /** Planned kill moments (from the seed), seconds after the recording started. */
  kill_times_s: number[];
  /** When each kill actually happened (a busy machine fires timers late); lost_s uses these. */
  killed_at_s: number[];
  lost_s: number[];
  correlation: number[];
  recovered_s: number[];
  /** Kills at which the model host had reported ready and was among the CLI's descendants (the orphan check watched a host with its models loaded). */
  kills_with_model_host_ready: number;
  /** Descendants of the CLI just before each kill. */
  descendants_at_kill: number[];
  /** Temp files the crashes left that recovery swept. */
  temp_files_swept: number;
  grace_s: number;
  /**
   * Kills run again because another program played into the shared virtual
   * microphone meanwhile (its audio mixed into the recording); the repeat
   * uses the same kill moment.
   */
  repeated_for_other_playback: number;
  bounds: typeof CRASH_BOUNDS;
  /** Every broken expectation, one sentence each; empty when pass. */
  problems: string[];
  pass: boolean;
}

const SAMPLE_RATE = 48_000;
/** Playback starts this long before `steno record`, so the recording has no silent head. */
const PLAYBACK_LEAD_MS = 1000;
const DEFAULT_GRACE_MS = 5000;
const POLL_MS = 100;
/** Tries per kill while other programs play into the microphone; the last one counts. */
const MAX_ATTEMPTS = 3;
/** How long a kill waits for the microphone to be free before it runs anyway. */
const MIC_FREE_WAIT_MS = 180_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Kill moments for a run: uniform in KILL_WINDOW_S, from a seeded generator. */
export function crashKillTimes(kills: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const span = KILL_WINDOW_S.max - KILL_WINDOW_S.min;
  // Capacity: exactly `kills` entries.
  return Array.from({ length: kills }, () => round(KILL_WINDOW_S.min + rand() * span));
}

interface KillOutcome {
  killAtS: number;
  capturedS: number;
  recovered: boolean;
  lostS: number;
  correlation: number;
  recoveredS: number;
  tempFilesLeft: number;
  tempFilesSwept: number;
  orphans: number;
  descendantsAtKill: number;
  /** Their command lines, for the log. */
  descendantCommands: string[];
  /** The model host had reported ready and was among the descendants at the kill. */
  hostAtKill: boolean;
  /** Streams of other programs that played into the microphone during the recording. */
  otherPlayback: string[];
  problems: string[];
}

export async function runCrashRecovery(opts: CrashRecoveryOptions): Promise<CrashRecoveryResult> {
  const log = opts.log ?? (() => {});
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const killTimes = crashKillTimes(opts.kills, opts.seed);
  const models = await testModels();
  const meeting = await ensureSyntheticMeeting();
  const work = makeTempDir('steno-crash-recovery-');
  try {
    const out = path.join(work, 'recordings');
    const home = path.join(work, 'home');
    fs.mkdirSync(out);
    fs.mkdirSync(home);
    const track = loopedTrack(meeting.wav48k, path.join(work, 'track-48k.wav'), 2);
    const played = readMonoSamples(track);
    if (played.rate !== SAMPLE_RATE) throw new Error(`${track}: expected ${SAMPLE_RATE} Hz`);
    const playedDecimated = decimateBy3(played.samples);
    log(
      `crash-recovery: seed ${opts.seed}, ${opts.kills} kills at ${killTimes.join(', ')} s; ` +
        `track ${(played.samples.length / SAMPLE_RATE).toFixed(1)} s`,
    );
    // Capacity: one outcome per kill.
    const outcomes: KillOutcome[] = [];
    let repeated = 0;
    for (const [i, killAtS] of killTimes.entries()) {
      const attempt = () =>
        killOnce({
          killAtS,
          out,
          env: { STENO_HOME: home },
          models,
          track,
          played: played.samples,
          playedDecimated,
          graceMs,
        });
      const { outcome, repeats } = await killWhenAlone(attempt, (line) =>
        log(`kill ${i + 1}: ${line}`),
      );
      repeated += repeats;
      outcomes.push(outcome);
      log(
        `kill ${i + 1}/${opts.kills} at ${killAtS.toFixed(2)} s: recovered ${outcome.recoveredS.toFixed(3)} s, ` +
          `lost ${outcome.lostS.toFixed(3)} s, correlation ${outcome.correlation.toFixed(6)}, ` +
          `model host ${outcome.hostAtKill ? 'ready' : 'not ready'}, descendants [${outcome.descendantCommands.join('; ')}], ` +
          `${outcome.orphans} orphans${outcome.problems.length ? `; ${outcome.problems.join(' ')}` : ''}`,
      );
    }
    return summarise(opts, killTimes, outcomes, graceMs, repeated);
  } finally {
    removeTempDir(work);
  }
}

function summarise(
  opts: CrashRecoveryOptions,
  killTimes: number[],
  outcomes: KillOutcome[],
  graceMs: number,
  repeated: number,
): CrashRecoveryResult {
  const sum = (f: (o: KillOutcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  const lost = outcomes.map((o) => round(o.lostS));
  const correlation = outcomes.map((o) => round(o.correlation, 6));
  const result = {
    kills: outcomes.length,
    recovered: outcomes.filter((o) => o.recovered).length,
    max_lost_s: lost.length ? Math.max(...lost) : NaN,
    min_correlation: correlation.length ? Math.min(...correlation) : NaN,
    temp_files_left: sum((o) => o.tempFilesLeft),
    orphan_processes: sum((o) => o.orphans),
    seed: opts.seed,
    kill_times_s: killTimes,
    killed_at_s: outcomes.map((o) => round(o.capturedS)),
    lost_s: lost,
    correlation,
    recovered_s: outcomes.map((o) => round(o.recoveredS)),
    kills_with_model_host_ready: outcomes.filter((o) => o.hostAtKill).length,
    descendants_at_kill: outcomes.map((o) => o.descendantsAtKill),
    temp_files_swept: sum((o) => o.tempFilesSwept),
    grace_s: graceMs / 1000,
    repeated_for_other_playback: repeated,
    bounds: CRASH_BOUNDS,
    problems: outcomes.flatMap((o, i) => o.problems.map((p) => `kill ${i + 1}: ${p}`)),
  };
  const pass =
    result.kills === opts.kills &&
    result.recovered === result.kills &&
    result.max_lost_s <= CRASH_BOUNDS.maxLostS &&
    result.min_correlation >= CRASH_BOUNDS.minCorrelation &&
    result.temp_files_left === 0 &&
    result.orphan_processes === 0 &&
    result.problems.length === 0;
  return { ...result, pass };
}

async function killOnce(k: {
  killAtS: number;
  out: string;
  env: NodeJS.ProcessEnv;
  models: { whisper: string; embedding: string };
  track: string;
  played: Float32Array;
  playedDecimated: Float32Array;
  graceMs: number;
}): Promise<KillOutcome> {
  const problems: string[] = [];
  const playback = startPlayingIntoMic(k.track);
  let rec: StenoProcess | null = null;
  try {
    await sleep(PLAYBACK_LEAD_MS);
    if (!playback.playing) throw new Error('paplay ended before recording started');
    rec = new StenoProcess(
      [
        'record',
        '--json',
        '--out',
        k.out,
        '--whisper-model',
        k.models.whisper,
        '--embedding-model',
        k.models.embedding,
      ],
      k.env,
    );
    const cli = rec;
    const state = await cli.waitFor(
      (e) => e.type === 'recording.state' && recordingOf(e)?.state === 'recording',
      60_000,
    );
    const startedAt = performance.now();
    const { id } = recordingOf(state)!;
    const exitedEarly = cli.exited.then(() => true);
    const killDue = sleep(k.killAtS * 1000 - (performance.now() - startedAt)).then(() => false);
    const others = watchOtherPlayback(playback.pid, killDue);
    const early = await Promise.race([exitedEarly, killDue]);
    if (early) {
      problems.push(`steno record exited before the kill; stderr: ${cli.stderr.slice(-500)}`);
    }
    if (!playback.playing) problems.push('the played track ended before the kill.');
    const pid = cli.child.pid!;
    const watched = descendants(pid);
    const descendantCommands = watched.map(describePid);
    const hostPid = lastHostPid(cli.events);
    const killedAt = performance.now();
    cli.child.kill('SIGKILL');
    const { signal } = await cli.exited;
    if (!early && signal !== 'SIGKILL')
      problems.push(`steno record ended by ${signal}, not SIGKILL.`);
    const capturedS = (killedAt - startedAt) / 1000;
    playback.dispose();
    const otherPlayback = await others;
    const orphans = await stillRunningAfter(watched, k.graceMs);
    if (orphans.length > 0) {
      problems.push(
        `orphaned processes after ${k.graceMs} ms: ${orphans.map(describePid).join('; ')}.`,
      );
    }
    // They are this run's processes (children of the CLI it started): end them
    // so one bug does not leave a process per kill behind.
    for (const p of orphans) killQuietly(p);

    return {
      killAtS: k.killAtS,
      capturedS,
      ...(await recoverAndCompare(k, id, capturedS, problems)),
      orphans: orphans.length,
      descendantsAtKill: watched.length,
      descendantCommands,
      hostAtKill: hostPid !== null && watched.includes(hostPid),
      otherPlayback,
      problems,
    };
  } finally {
    playback.dispose();
    if (rec && rec.child.exitCode === null && rec.child.signalCode === null) {
      rec.child.kill('SIGKILL');
      await rec.exited;
    }
  }
}

/** Runs recovery (the next `steno list`), then checks the recovered file against the track. */
async function recoverAndCompare(
  k: { out: string; env: NodeJS.ProcessEnv; played: Float32Array; playedDecimated: Float32Array },
  id: string,
  capturedS: number,
  problems: string[],
): Promise<
  Pick<
    KillOutcome,
    'recovered' | 'lostS' | 'correlation' | 'recoveredS' | 'tempFilesLeft' | 'tempFilesSwept'
  >
> {
  const folder = path.join(k.out, id);
  const hadMarker = fs.existsSync(path.join(folder, MARKER_FILE));
  if (!hadMarker) problems.push('the killed recording had no in-progress marker.');
  const next = await runSteno(['list', '--json', '--out', k.out], k.env);
  if (next.code !== 0)
    problems.push(`steno list exited with ${next.code}: ${next.stderr.slice(-500)}`);
  const recovery = next.events.find((e) => e.type === 'recording.recovered') as
    { recovered: { id: string }[]; tempFilesRemoved: number } | undefined;
  const listed = next.events
    .flatMap((e) =>
      Array.isArray(e.recordings) ? (e.recordings as { id: string; state: string }[]) : [],
    )
    .find((r) => r.id === id);
  const file = path.join(folder, 'audio.wav');
  let recovered =
    hadMarker &&
    (recovery?.recovered.some((r) => r.id === id) ?? false) &&
    listed?.state === 'recovered' &&
    !fs.existsSync(path.join(folder, MARKER_FILE)) &&
    fs.existsSync(file);
  if (!recovered) problems.push(`recording ${id} was not recovered (listed as ${listed?.state}).`);

  let recoveredS = 0;
  let correlation = 0;
  if (fs.existsSync(file)) {
    const { rate, samples } = readMonoSamples(file);
    recoveredS = samples.length / rate;
    // An independent reader must agree on the length: the header is true.
    const soxS = soxDuration(file);
    if (Math.abs(soxS - recoveredS) > 0.001) {
      recovered = false;
      problems.push(`sox reads ${soxS} s where the samples are ${recoveredS} s.`);
    }
    if (rate !== SAMPLE_RATE) problems.push(`the recording is at ${rate} Hz, not ${SAMPLE_RATE}.`);
    else correlation = correlationAgainstTrack(k.played, k.playedDecimated, samples);
  }
  const tempFilesLeft = listFilesRecursive(path.dirname(k.out)).filter((f) =>
    f.endsWith(TEMP_SUFFIX),
  ).length;
  // Each recording is checked once; removing it keeps the disk use of a long run flat.
  fs.rmSync(folder, { recursive: true, force: true });
  return {
    recovered,
    lostS: capturedS - recoveredS,
    correlation,
    recoveredS,
    tempFilesLeft,
    tempFilesSwept: recovery?.tempFilesRemoved ?? 0,
  };
}

/**
 * Runs one kill, again (same kill moment, at most MAX_ATTEMPTS in all) while
 * another program's playback spoiled the comparison with what was played.
 */
async function killWhenAlone(
  attempt: () => Promise<KillOutcome>,
  log: (line: string) => void,
): Promise<{ outcome: KillOutcome; repeats: number }> {
  for (let repeats = 0; ; repeats++) {
    await untilMicIsFree(log);
    const outcome = await attempt();
    // A kill that found a fault counts whatever else played: the fault is Steno's.
    if (outcome.otherPlayback.length === 0 || outcome.problems.length > 0) {
      return { outcome, repeats };
    }
    const others = outcome.otherPlayback.join('; ');
    if (repeats + 1 >= MAX_ATTEMPTS) {
      outcome.problems.push(
        `another program played into steno_sink during this recording (${others}): its audio is mixed ` +
          'into the recording, so the correlation does not measure Steno; run again when it is alone.',
      );
      return { outcome, repeats };
    }
    log(
      `another program played into steno_sink (${others}); repeating it with the same kill moment`,
    );
  }
}

/** Waits (at most MIC_FREE_WAIT_MS) until no other program plays into the microphone. */
async function untilMicIsFree(log: (line: string) => void): Promise<void> {
  const deadline = performance.now() + MIC_FREE_WAIT_MS;
  let told = false;
  while (performance.now() < deadline) {
    const others = await otherStreamsIntoMic([]).catch(() => []);
    if (others.length === 0) return;
    if (!told) log(`waiting for the microphone: ${others.join('; ')}`);
    told = true;
    await sleep(1000);
  }
}

/**
 * Streams other than ours that played into the microphone, sampled once a
 * second until `until` settles. Capacity: one entry per distinct stream seen.
 */
async function watchOtherPlayback(
  ownPid: number | undefined,
  until: Promise<unknown>,
): Promise<string[]> {
  const seen = new Set<string>();
  let done = false;
  void until.then(() => (done = true));
  while (!done) {
    try {
      for (const s of await otherStreamsIntoMic(ownPid === undefined ? [] : [ownPid])) seen.add(s);
    } catch (e) {
      seen.add(`unknown (pactl failed: ${(e as Error).message.split('\n')[0]})`);
    }
    await Promise.race([sleep(1000), until]);
  }
  return [...seen];
}

function recordingOf(e: CliEvent): { id: string; state: string } | undefined {
  return e.recording as { id: string; state: string } | undefined;
}

/** The pid of the model host as the CLI last reported it, or null. */
function lastHostPid(events: CliEvent[]): number | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'host.state' && typeof e.pid === 'number') return e.pid;
  }
  return null;
}

/**
 * Waits up to `graceMs` for every pid to end; returns those still running.
 * A zombie has ended (only its exit status is left, for whoever reaps it).
 */
async function stillRunningAfter(pids: number[], graceMs: number): Promise<number[]> {
  const deadline = performance.now() + graceMs;
  let running = pids.filter(isRunning);
  while (running.length > 0 && performance.now() < deadline) {
    await sleep(POLL_MS);
    running = running.filter(isRunning);
  }
  return running;
}

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function describePid(pid: number): string {
  try {
    return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`;
  } catch {
    return String(pid);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // It ended between the check and the kill: nothing left to end.
  }
}

/** The source file `times` times end to end (sox), so playback outlasts start-up plus 30 s. */
function loopedTrack(source: string, out: string, times: number): string {
  execFileSync('sox', [...Array<string>(times).fill(source), out]);
  return out;
}

/**
 * Where the recording lies in the track and how well it matches there: the
 * lag is searched at 16 kHz (a third of the FFT work and memory), then the
 * normalised correlation is taken at 48 kHz at the best of the 7 lags around it.
 */
function correlationAgainstTrack(
  played: Float32Array,
  playedDecimated: Float32Array,
  recorded: Float32Array,
): number {
  const recordedDecimated = decimateBy3(recorded);
  if (recordedDecimated.length === 0 || recorded.length > played.length) return 0;
  const coarse = bestNormalizedCorrelation(playedDecimated, recordedDecimated);
  let best = -Infinity;
  for (let lag = coarse.lag * 3 - 3; lag <= coarse.lag * 3 + 3; lag++) {
    if (lag < 0 || lag + recorded.length > played.length) continue;
    best = Math.max(best, normalizedCorrelationAt(played, recorded, lag));
  }
  return best === -Infinity ? 0 : best;
}

/** The same normalisation as ./correlation, at one lag, directly. */
function normalizedCorrelationAt(
  played: Float32Array,
  recorded: Float32Array,
  lag: number,
): number {
  let dot = 0;
  let playedEnergy = 0;
  let recordedEnergy = 0;
  for (let i = 0; i < recorded.length; i++) {
    const p = played[lag + i]!;
    const r = recorded[i]!;
    dot += p * r;
    playedEnergy += p * p;
    recordedEnergy += r * r;
  }
  const denom = Math.sqrt(playedEnergy * recordedEnergy);
  return denom <= 1e-12 ? 0 : dot / denom;
}

/** 48 kHz to 16 kHz by averaging each 3 samples: enough of a low-pass to find a lag. */
function decimateBy3(x: Float32Array): Float32Array {
  const y = new Float32Array(Math.floor(x.length / 3));
  for (let i = 0; i < y.length; i++) y[i] = (x[3 * i]! + x[3 * i + 1]! + x[3 * i + 2]!) / 3;
  return y;
}
