/**
 * The recordings on disk: list, details, delete, transcript pages and speaker
 * names. It reads the recordings directory and each recording's files; the
 * recording in progress belongs to the recorder and cannot be deleted.
 */
import fs from 'node:fs';
import { fileSizeOrNull } from '../fs-layer';
import { Emitter } from '../../core/event';
import { StenoError, fileSystemError } from '../../core/errors';
import { Disposable } from '../../core/lifecycle';
import type { CommandResult } from '../../core/api/commands';
import type { RecordingSummary } from '../../core/api/types';
import { LIMITS } from '../../core/api/types';
import type { RecordingMeta, RecordingsStore } from '../recording/recordings-store';
import {
  countSegments,
  readSpeakerNames,
  readTranscriptPage,
  renameSpeaker,
} from '../transcription/transcript-store';

export const DEFAULT_LIST_LIMIT = 200;
export const DEFAULT_TRANSCRIPT_PAGE = 500;

export class LibraryService extends Disposable {
  private readonly deletedEmitter = this._register(new Emitter<string>());
  private readonly renamedEmitter = this._register(
    new Emitter<{ id: string; speaker: number; name: string }>(),
  );
  readonly onDidDelete = this.deletedEmitter.event;
  readonly onDidRenameSpeaker = this.renamedEmitter.event;

  constructor(
    readonly store: RecordingsStore,
    /** The id being recorded now, if any: it cannot be deleted. */
    private readonly liveId: () => string | null,
  ) {
    super();
  }

  async list(offset = 0, limit = DEFAULT_LIST_LIMIT): Promise<CommandResult<'listRecordings'>> {
    // Newest first: the meeting a person just had is the one they look for.
    const ids = (await this.store.listIds()).reverse();
    const page = ids.slice(offset, offset + Math.min(limit, LIMITS.listItems));
    const recordings: RecordingSummary[] = [];
    for (const id of page) {
      const meta = await this.store.readMeta(id);
      if (meta) recordings.push(toSummary(meta));
    }
    return { recordings, total: ids.length };
  }

  async get(id: string): Promise<CommandResult<'getRecording'>> {
    const meta = await this.requireMeta(id);
    const folder = this.store.dirOf(id);
    const audioPath = this.store.audioPath(id);
    const audioBytes = await fileSizeOrNull(audioPath);
    return {
      recording: toSummary(meta),
      audioPath,
      audioBytes,
      segmentCount: await countSegments(folder),
      speakerNames: namesOut(await readSpeakerNames(folder)),
    };
  }

  /** Removes the recording's folder; the caller has asked the person. */
  async delete(id: string): Promise<{ id: string }> {
    await this.requireMeta(id);
    if (this.liveId() === id) {
      throw new StenoError(
        'INVALID_STATE',
        `Recording ${id} is being recorded now.`,
        'Stop the recording first, then delete it.',
      );
    }
    try {
      await fs.promises.rm(this.store.dirOf(id), { recursive: true, force: false });
    } catch (e) {
      throw fileSystemError(e, this.store.dirOf(id), 'deleting the recording');
    }
    this.deletedEmitter.fire(id);
    return { id };
  }

  async transcript(
    id: string,
    offset = 0,
    limit = DEFAULT_TRANSCRIPT_PAGE,
  ): Promise<CommandResult<'getTranscript'>> {
    await this.requireMeta(id);
    const page = await readTranscriptPage(this.store.dirOf(id), offset, limit);
    return { ...page, speakerNames: namesOut(page.speakerNames) };
  }

  /** Renames run one after another: two at once must not lose one (read, change, write). */
  private renaming: Promise<unknown> = Promise.resolve();

  async renameSpeaker(
    id: string,
    speaker: number,
    name: string,
  ): Promise<{ speaker: number; name: string }> {
    await this.requireMeta(id);
    const done = this.renaming.then(() => renameSpeaker(this.store.dirOf(id), speaker, name));
    this.renaming = done.catch(() => {});
    await done;
    const clean = name.trim();
    this.renamedEmitter.fire({ id, speaker, name: clean });
    return { speaker, name: clean };
  }

  private async requireMeta(id: string): Promise<RecordingMeta> {
    const meta = await this.store.readMeta(id);
    if (!meta) {
      throw new StenoError(
        'RECORDING_NOT_FOUND',
        `There is no recording "${id}".`,
        'List the recordings to see their ids.',
      );
    }
    return meta;
  }
}

/** A recording's meta as the API's summary (only the fields the API names). */
export function toSummary(meta: RecordingMeta): RecordingSummary {
  return {
    id: meta.id,
    startedAt: meta.startedAt,
    ...(meta.endedAt ? { endedAt: meta.endedAt } : {}),
    device: meta.device,
    sampleRate: meta.sampleRate,
    channels: meta.channels,
    durationS: meta.durationS,
    state: meta.state,
    ...(meta.recoveredAt ? { recoveredAt: meta.recoveredAt } : {}),
    ...(meta.stopReason ? { stopReason: meta.stopReason } : {}),
    ...(meta.error ? { error: StenoError.fromWire(meta.error).toJSON() } : {}),
    ...(meta.source ? { source: meta.source } : {}),
  };
}

function namesOut(names: Record<number, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(names));
}
