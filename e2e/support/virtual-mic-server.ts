import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Brings up the virtual microphone the tests and benchmarks record from: a
 * PulseAudio null sink `steno_sink` whose monitor is remapped to the mono
 * source `steno_mic`, made the default source, so ALSA's `default` device
 * (and so PortAudio/naudiodon) records whatever `paplay --device=steno_sink`
 * plays. ALSA reaches PulseAudio through /etc/alsa/conf.d/99-pulse.conf (from
 * the pulseaudio package, with libasound2-plugins' hook), which makes
 * `default` the PulseAudio plugin whenever a server runs: nothing is written
 * to /etc.
 *
 * `startVirtualMic` changes only what is missing and returns a lease naming
 * each change; `stopVirtualMic(lease)` undoes exactly those: a server it
 * started is stopped, modules it loaded into a person's own server are
 * unloaded and that server's previous default source and sink restored.
 */

/** The packages a missing virtual microphone needs, for one-sentence failures. */
export const VIRTUAL_MIC_PACKAGES = 'pulseaudio, pulseaudio-utils and libasound2-plugins';

/** Set by the test run's global setup when the microphone could not be brought up: why. */
export const VIRTUAL_MIC_PROBLEM_ENV = 'STENO_VIRTUAL_MIC_PROBLEM';

export type VirtualMicLease =
  /** steno_mic was already there: nothing was changed, nothing to undo. */
  | { kind: 'already-up' }
  /** The virtual microphone cannot be brought up; `problem` is one sentence. */
  | { kind: 'unavailable'; problem: string }
  | {
      /** `started-server`: no server ran, this one was started and is stopped at the end. */
      kind: 'loaded-into-server' | 'started-server';
      serverPid: number | null;
      /** Modules loaded into the server, in load order. */
      moduleIds: number[];
      silencePid: number;
      previousDefaultSource: string | null;
      previousDefaultSink: string | null;
    };

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * pactl in the C locale (its labels are parsed) and without autospawn: probing
 * for a server must not start one behind our back (the daemon's own idle
 * timeout would then decide when it ends, not the lease).
 */
function pactlEnv(): NodeJS.ProcessEnv {
  const conf = path.join(os.tmpdir(), `steno-pulse-client-${os.userInfo().uid}.conf`);
  if (!fs.existsSync(conf)) fs.writeFileSync(conf, 'autospawn = no\n');
  return { ...process.env, LC_ALL: 'C', PULSE_CLIENTCONFIG: conf };
}

async function pactl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('pactl', args, { env: pactlEnv(), timeout: 10_000 });
  return stdout;
}

type ServerState = 'no-pactl' | 'no-server' | 'without-mic' | 'mic-up';

async function serverState(): Promise<ServerState> {
  try {
    await pactl('info');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no-pactl' : 'no-server';
  }
  const sources = await pactl('list', 'short', 'sources');
  return /^\S+\s+steno_mic\s/m.test(sources) ? 'mic-up' : 'without-mic';
}

function isInstalled(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether `pid` is a live (not zombie) process whose command is `command`. */
function isLive(pid: number, command: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised name, which may hold spaces) is the state.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return path.basename(argv0) === command;
  } catch {
    return false;
  }
}

/** Ends one process this module started, checked by pid and command; waits until it is gone. */
async function endProcess(pid: number, command: string, timeoutMs = 5_000): Promise<void> {
  if (!isLive(pid, command)) return;
  process.kill(pid, 'SIGTERM');
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50))
    if (!isLive(pid, command)) return;
  process.kill(pid, 'SIGKILL');
}

function defaultDevice(info: string, label: 'Source' | 'Sink'): string | null {
  const name = new RegExp(`^Default ${label}: (.+)$`, 'm').exec(info)?.[1]?.trim();
  return name && name !== 'n/a' ? name : null;
}

/**
 * A PulseAudio daemon in user mode, in the foreground of its own session so it
 * outlives a command-line caller; its log goes to a file shown if it fails.
 */
async function startServer(): Promise<{ pid: number } | { problem: string }> {
  const log = path.join(os.tmpdir(), `steno-pulseaudio-${os.userInfo().uid}.log`);
  const logFd = fs.openSync(log, 'w');
  // --exit-idle-time=-1: stay up between tests, whose gaps would otherwise end it.
  const child = spawn(
    'pulseaudio',
    ['--daemonize=no', '--exit-idle-time=-1', '--disallow-exit', '--log-target=stderr'],
    { detached: true, stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  child.unref();
  let exited = false;
  child.on('exit', () => (exited = true));
  for (let i = 0; i < 100 && !exited; i++) {
    if ((await serverState()) !== 'no-server') return { pid: child.pid! };
    await sleep(100);
  }
  if (!exited && child.pid) await endProcess(child.pid, 'pulseaudio');
  const tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ');
  return { problem: `PulseAudio did not start (${tail || 'no output'}; log: ${log})` };
}

/** The null sink, its mono monitor as steno_mic, both made the defaults, and a silence stream. */
async function loadMic(
  kind: 'loaded-into-server' | 'started-server',
  serverPid: number | null,
): Promise<VirtualMicLease> {
  const info = await pactl('info');
  const moduleIds: number[] = [];
  const lease = {
    kind,
    serverPid,
    moduleIds,
    silencePid: 0,
    previousDefaultSource: defaultDevice(info, 'Source'),
    previousDefaultSink: defaultDevice(info, 'Sink'),
  };
  try {
    const load = async (...args: string[]) =>
      moduleIds.push(Number((await pactl('load-module', ...args)).trim()));
    await load(
      'module-null-sink',
      'sink_name=steno_sink',
      'rate=48000',
      'channels=2',
      'sink_properties=device.description=StenoSink',
    );
    await load(
      'module-remap-source',
      'source_name=steno_mic',
      'master=steno_sink.monitor',
      'channels=1',
      'channel_map=mono',
      'source_properties=device.description=StenoMic',
    );
    await pactl('set-default-sink', 'steno_sink');
    await pactl('set-default-source', 'steno_mic');
    // One stream of silence keeps the sink running: without it the first ~1.5 s
    // of every capture is lost while the sink wakes up. 100 ms of latency makes
    // the sink (and so its monitor) hand audio on in small steps, as a real
    // microphone does, instead of the default multi-second buffer.
    const silence = spawn(
      'pacat',
      [
        '--playback',
        '--device=steno_sink',
        '--format=s16le',
        '--rate=48000',
        '--channels=2',
        '--latency-msec=100',
        '/dev/zero',
      ],
      { detached: true, stdio: 'ignore', env: pactlEnv() },
    );
    silence.unref();
    lease.silencePid = silence.pid ?? 0;
    // Wait until the sink runs, then a little longer for it to warm up: a
    // capture that starts earlier gets its first second late or not at all.
    for (let i = 0; i < 100; i++) {
      const sinks = await pactl('list', 'short', 'sinks');
      if (/^\S+\s+steno_sink\s.*\bRUNNING\s*$/m.test(sinks)) break;
      await sleep(100);
    }
    await sleep(500);
    return lease;
  } catch (e) {
    await stopVirtualMic(lease);
    throw e;
  }
}

export async function startVirtualMic(): Promise<VirtualMicLease> {
  const state = await serverState();
  if (state === 'mic-up') return { kind: 'already-up' };
  if (state === 'without-mic') return loadMic('loaded-into-server', null);
  if (state === 'no-pactl' || !isInstalled('pulseaudio') || !isInstalled('pacat'))
    return {
      kind: 'unavailable',
      problem: `the virtual microphone needs PulseAudio: install ${VIRTUAL_MIC_PACKAGES}`,
    };
  const started = await startServer();
  if ('problem' in started)
    return { kind: 'unavailable', problem: `${started.problem}; it needs ${VIRTUAL_MIC_PACKAGES}` };
  try {
    return await loadMic('started-server', started.pid);
  } catch (e) {
    await endProcess(started.pid, 'pulseaudio');
    throw e;
  }
}

/** Undoes what `startVirtualMic` did, and nothing else. */
export async function stopVirtualMic(lease: VirtualMicLease): Promise<void> {
  if (lease.kind === 'already-up' || lease.kind === 'unavailable') return;
  if (lease.silencePid) await endProcess(lease.silencePid, 'pacat');
  if (lease.kind === 'started-server') {
    if (lease.serverPid) await endProcess(lease.serverPid, 'pulseaudio');
    return;
  }
  // A person's own server: remove our devices, then give back its defaults
  // where they still exist (module-always-sink brings its dummy sink back only
  // once ours is gone, so restoring before unloading could name a missing sink).
  for (const id of [...lease.moduleIds].reverse()) await pactl('unload-module', String(id));
  const restore = async (previous: string | null, kind: 'sink' | 'source') => {
    if (!previous) return;
    const names = (await pactl('list', 'short', `${kind}s`))
      .split('\n')
      .map((l) => l.split('\t')[1]);
    if (names.includes(previous)) await pactl(`set-default-${kind}`, previous);
  };
  await restore(lease.previousDefaultSink, 'sink');
  await restore(lease.previousDefaultSource, 'source');
}
