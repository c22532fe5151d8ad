import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bestNormalizedCorrelation } from '../src/testing/correlation';
import { makeTempDir, removeTempDir } from '../src/testing/tmp';
import { readMonoSamples, soxDuration, spokenSentence } from './support/audio';
import { progressPast, recordingEnd, runSteno, StenoProcess } from './support/steno-cli';
import { playIntoMic, requireVirtualMic, suspendMic } from './support/virtual-mic';

let out: string;
beforeAll(() => requireVirtualMic());
beforeEach(() => {
  out = makeTempDir('steno-e2e-');
});
afterEach(() => {
  suspendMic(false);
  removeTempDir(out);
});

describe('steno record with the real (virtual) microphone', () => {
  it('records a spoken sentence played into the microphone (correlation >= 0.9)', async () => {
    const sentence = spokenSentence(
      'capture-sentence',
      'Steno writes every word of the meeting to disk as it is spoken.',
    );
    const rec = new StenoProcess(['record', '--json', '--out', out, '--seconds', '7']);
    await rec.waitFor(progressPast(0.5));
    await playIntoMic(sentence);
    const { code } = await rec.exited;
    expect(code, rec.stderr).toBe(0);
    const stopped = rec.ended()!;
    expect(stopped.state).toBe('complete');
    expect(stopped.droppedFrames).toBe(0);
    const file = rec.started()!.audioPath;
    const recorded = readMonoSamples(file);
    const played = readMonoSamples(sentence);
    expect(recorded.rate).toBe(48_000);
    const { peak, lag } = bestNormalizedCorrelation(recorded.samples, played.samples);
    console.log(`capture correlation ${peak.toFixed(4)} at ${(lag / 48_000).toFixed(3)} s`);
    expect(peak).toBeGreaterThanOrEqual(0.9);
    // An independent reader agrees on the length.
    expect(soxDuration(file)).toBeCloseTo(stopped.durationS, 2);
  });

  it('lists the input devices, printing only its own lines (ALSA and PortAudio go to the log)', async () => {
    const r = await runSteno(['devices', '--json'], { STENO_HOME: out });
    expect(r.code).toBe(0);
    // Exactly one line: the API's listDevices result.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const devices = JSON.parse(r.stdout) as { id: number }[];
    expect(devices.length).toBeGreaterThan(0);
    expect(r.stderr).not.toMatch(/ALSA lib|PortAudio|Jack/);
    const log = fs.readFileSync(path.join(out, 'logs', 'native.log'), 'utf8');
    expect(log).toMatch(/ALSA lib/);
    // --verbose shows the libraries' lines on stderr; stdout stays clean.
    const verbose = await runSteno(['devices', '--json', '--verbose'], { STENO_HOME: out });
    expect(verbose.stdout.trim().split('\n')).toHaveLength(1);
    expect(verbose.stderr).toMatch(/ALSA lib/);
    const text = await runSteno(['devices'], { STENO_HOME: out });
    // The header, one row per device, the hint: nothing else.
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID {2}CHANNELS {2}RATE {4}NAME$/);
    for (const row of lines.slice(1, -1)) expect(row).toMatch(/^\d+ +\d+ +\d+ +.+ \(.+\)$/);
    expect(lines.at(-1)).toBe('Record from one with: steno record --device ID');
    expect(text.stderr).toBe('');
  });

  it('an invalid device id is refused with a clear error and leaves nothing behind', async () => {
    const r = await runSteno([
      'record',
      '--json',
      '--out',
      out,
      '--device',
      '4242',
      '--seconds',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no audio input device with id 4242/);
    expect(r.stderr).toMatch(/steno devices/);
    expect(r.stderr).toMatch(/DEVICE_NOT_FOUND/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('the device disappearing mid-recording finalizes the file with DEVICE_LOST; a new recording then works', async () => {
    const rec = new StenoProcess(['record', '--json', '--out', out, '--seconds', '30']);
    await rec.waitFor(progressPast(1.5));
    suspendMic(true); // PulseAudio stops delivering: no event reaches naudiodon
    const { code } = await rec.exited;
    suspendMic(false);
    expect(code).toBe(1);
    const stopped = rec.ended()!;
    expect(stopped.state).toBe('failed');
    expect(stopped.error?.code).toBe('DEVICE_LOST');
    expect(rec.stderr).toMatch(/unplugged/);
    const file = rec.started()!.audioPath;
    expect(soxDuration(file)).toBeGreaterThan(1.4);
    expect(soxDuration(file)).toBeCloseTo(stopped.durationS, 2);

    const again = await runSteno(['record', '--json', '--out', out, '--seconds', '1.5']);
    expect(again.code, again.stderr).toBe(0);
    expect(recordingEnd(again.events)?.state).toBe('complete');
  });

  it('the recording folder deleted mid-recording: DIR_VANISHED, and the audio is saved again', async () => {
    const rec = new StenoProcess(['record', '--json', '--out', out, '--seconds', '30']);
    await rec.waitFor(progressPast(2));
    const file = rec.started()!.audioPath;
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    const { code } = await rec.exited;
    expect(code).toBe(1);
    const stopped = rec.ended()!;
    expect(stopped.state).toBe('failed');
    expect(stopped.error?.code).toBe('DIR_VANISHED');
    expect(rec.stderr).toMatch(/were saved again to .*audio\.wav/);
    // Everything captured until the stop is in the remade file, and sox reads it.
    const captured = stopped.capturedS;
    expect(captured).toBeGreaterThan(2);
    expect(captured - soxDuration(file)).toBeLessThan(0.05);
    expect(soxDuration(file)).toBeCloseTo(stopped.durationS, 2);
  });

  it('Ctrl-C (SIGINT) stops cleanly with a complete file', async () => {
    const rec = new StenoProcess(['record', '--json', '--out', out]);
    await rec.waitFor(progressPast(1));
    rec.child.kill('SIGINT');
    const { code } = await rec.exited;
    expect(code).toBe(0);
    const stopped = rec.ended()!;
    expect(stopped.state).toBe('complete');
    const file = rec.started()!.audioPath;
    const captured = stopped.capturedS;
    // What was captured is all in the file: the last partial read is kept.
    expect(captured - soxDuration(file)).toBeLessThan(0.05);
    expect(fs.existsSync(path.join(path.dirname(file), 'recording.inprogress'))).toBe(false);
  });
});
