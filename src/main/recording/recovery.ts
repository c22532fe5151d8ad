import fs from 'node:fs';
import { StenoError, isStenoError } from '../../core/errors';
import { sweepTempFiles } from '../temp-files';
import { repairWavHeader } from './wav-repair';
import type { RecordingMeta, RecordingsStore } from './recordings-store';
import { isProcessAlive } from '../process-alive';

export interface RecoveryReport {
  /** Recordings that were left in progress and have been rebuilt. */
  recovered: RecordingMeta[];
  /** Recordings left in progress whose audio could not be rebuilt. */
  failed: { id: string; error: StenoError }[];
  /** Temp files of earlier runs that were removed. */
  tempFilesRemoved: string[];
}

/**
 * Startup recovery. A folder that still has its in-progress marker belongs to a
 * process that died (crash, power loss, kill -9) unless that process is still
 * alive. Its WAV header is rebuilt from the file length (the file itself is
 * always whole frames of audio after an 80-byte header), its meta updated and
 * marked recovered, and the marker removed. Leftover temp files are swept.
 */
export async function recoverRecordings(store: RecordingsStore): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    recovered: [],
    failed: [],
    tempFilesRemoved: await sweepTempFiles(store.root),
  };
  for (const id of await store.listIds()) {
    const pid = await store.markerPid(id);
    if (pid === null) continue;
    if (pid !== process.pid && pid > 0 && isProcessAlive(pid)) continue;
    try {
      report.recovered.push(await recoverOne(store, id));
    } catch (e) {
      const error = isStenoError(e)
        ? e
        : new StenoError(
            'WRITE_FAILED',
            `Recording ${id} could not be recovered: ${(e as Error).message}.`,
            'Its folder was left as it is; copy audio.wav elsewhere before deleting anything.',
            { cause: e },
          );
      report.failed.push({ id, error });
    }
  }
  return report;
}

async function recoverOne(store: RecordingsStore, id: string): Promise<RecordingMeta> {
  const meta = await store.readMeta(id);
  const audio = store.audioPath(id);
  const exists = await fs.promises
    .stat(audio)
    .then(() => true)
    .catch(() => false);
  const now = new Date().toISOString();
  // Without meta.json (a crash before its first rename) the format below is only
  // a guess for a torn header; a readable header's own format replaces it.
  const base: RecordingMeta = meta ?? {
    version: 1,
    id,
    startedAt: now,
    device: 'unknown',
    sampleRate: 48_000,
    channels: 1,
    durationS: 0,
    state: 'recording',
  };
  let updated: RecordingMeta;
  if (!exists) {
    updated = {
      ...base,
      state: 'failed',
      durationS: 0,
      recoveredAt: now,
      error: {
        code: 'WRITE_FAILED',
        message: 'The recording stopped before any audio reached the disk.',
        action: 'Nothing to recover; you may delete this recording.',
      },
    };
  } else {
    const repaired = await repairWavHeader(audio, {
      format: { sampleRate: base.sampleRate, channels: base.channels, bitsPerSample: 16 },
    });
    updated = {
      ...base,
      sampleRate: repaired.format.sampleRate,
      channels: repaired.format.channels,
      state: 'recovered',
      durationS: repaired.durationS,
      recoveredAt: now,
      endedAt: base.endedAt ?? now,
    };
  }
  await store.writeMeta(updated);
  await store.removeMarker(id);
  return updated;
}
