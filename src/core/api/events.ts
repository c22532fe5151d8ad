/**
 * The one event stream: everything that happens after a command's reply.
 * Each event has a `type`; high-rate ones (level, progress, partials, metrics)
 * carry the latest value only and may be coalesced for a slow client; every
 * other event is delivered, in order, or the client is disconnected.
 */
import { z } from 'zod';
import {
  AppStateSchema,
  CaptureStatsSchema,
  ErrorSchema,
  HostStateSchema,
  JobIdSchema,
  JobProgressSchema,
  JobSchema,
  LIMITS,
  LiveRecordingSchema,
  MetricsSchema,
  PartialSchema,
  RecordingIdSchema,
  RecordingSummarySchema,
  SegmentSchema,
  SettingsSchema,
  StopReasonSchema,
} from './types';

const nonNegative = () => z.number().finite().nonnegative();
const count = () => z.number().int().nonnegative();

export const EventSchema = z.discriminatedUnion('type', [
  /** The recording started, paused, resumed or began stopping. */
  z.object({ type: z.literal('recording.state'), recording: LiveRecordingSchema }),
  /** With each read of audio while recording (about five times a second), and once on pause. Coalesced. */
  z.object({
    type: z.literal('recording.progress'),
    id: RecordingIdSchema,
    elapsedS: nonNegative(),
    durableS: nonNegative(),
  }),
  /** Input level of the last chunk. Coalesced. */
  z.object({
    type: z.literal('recording.level'),
    peakDbfs: z.number().finite().min(-200).max(10),
    rmsDbfs: z.number().finite().min(-200).max(10),
  }),
  /** The recording is final on disk (stopped by the person, an auto-stop, or the app quitting). */
  z.object({
    type: z.literal('recording.finished'),
    recording: RecordingSummarySchema,
    reason: StopReasonSchema,
    stats: CaptureStatsSchema,
  }),
  /** The recording ended because of an error; what was recorded is kept. */
  z.object({
    type: z.literal('recording.failed'),
    recording: RecordingSummarySchema,
    error: ErrorSchema,
    stats: CaptureStatsSchema,
  }),
  /** Recordings left by a crash were made playable again at start-up. */
  z.object({
    type: z.literal('recording.recovered'),
    recovered: z.array(RecordingSummarySchema).max(LIMITS.listItems),
    failed: z
      .array(z.object({ id: z.string().max(LIMITS.idChars), error: ErrorSchema }))
      .max(LIMITS.listItems),
    tempFilesRemoved: count(),
  }),
  z.object({ type: z.literal('recording.deleted'), id: RecordingIdSchema }),
  /** A final segment of the live transcript. */
  z.object({
    type: z.literal('transcript.segment'),
    id: RecordingIdSchema,
    segment: SegmentSchema,
  }),
  /** The utterance in progress, as heard so far. Coalesced. */
  z.object({
    type: z.literal('transcript.partial'),
    id: RecordingIdSchema,
    partial: PartialSchema,
  }),
  /**
   * Speakers re-clustered: these segments now have these speakers, and are
   * (or are no longer) marked as overlapped speech (in pages).
   */
  z.object({
    type: z.literal('transcript.relabelled'),
    id: RecordingIdSchema,
    changes: z
      .array(z.object({ segment: count(), speaker: count(), overlap: z.boolean() }))
      .max(LIMITS.segmentsPerPage),
  }),
  /** The live transcript is complete and final. */
  z.object({
    type: z.literal('transcript.finished'),
    id: RecordingIdSchema,
    segmentCount: count(),
    speakerCount: count(),
    hostRestarts: count(),
  }),
  z.object({
    type: z.literal('speaker.renamed'),
    id: RecordingIdSchema,
    speaker: count(),
    name: z.string().max(LIMITS.nameChars),
  }),
  /** The model host changed state; `pid` while it runs. */
  z.object({
    type: z.literal('host.state'),
    state: HostStateSchema,
    pid: count().nullable(),
    detail: z.string().max(LIMITS.messageChars).nullable(),
  }),
  /** A job was added, started, paused, finished, failed, cancelled or retried. */
  z.object({ type: z.literal('job.updated'), job: JobSchema }),
  /** A running job's progress, about four times a second. Coalesced per job. */
  z.object({ type: z.literal('job.progress'), id: JobIdSchema, progress: JobProgressSchema }),
  z.object({ type: z.literal('job.removed'), id: JobIdSchema }),
  /** About once a second. Coalesced. */
  z.object({ type: z.literal('metrics'), metrics: MetricsSchema }),
  z.object({ type: z.literal('settings.changed'), settings: SettingsSchema }),
  /** A problem that is not the reply to a command (the transcript, the disk, a model). */
  z.object({
    type: z.literal('error'),
    error: ErrorSchema,
    /** What was going on: 'transcript', 'recording', 'metrics', ... */
    context: z.string().max(64),
  }),
  /** `steno serve` is listening at `url` (token included): what a person opens. */
  z.object({ type: z.literal('server.listening'), url: z.string().max(LIMITS.pathChars) }),
  /** `steno serve` stopped (a signal, or Steno quitting); `reason` says which. */
  z.object({ type: z.literal('server.stopped'), reason: z.string().max(64) }),
  /** The whole state, sent when a client connects or resynchronises. */
  z.object({ type: z.literal('state'), state: AppStateSchema }),
]);

export type StenoEvent = z.infer<typeof EventSchema>;
export type StenoEventType = StenoEvent['type'];
export type EventOf<T extends StenoEventType> = Extract<StenoEvent, { type: T }>;

/**
 * Events that only ever say "the latest value is": a slow client gets the
 * newest one instead of every one. Everything else is never dropped.
 */
export const COALESCED_EVENTS: ReadonlySet<StenoEventType> = new Set<StenoEventType>([
  'recording.progress',
  'recording.level',
  'transcript.partial',
  'job.progress',
  'metrics',
]);

export function isCoalesced(event: StenoEvent): boolean {
  return COALESCED_EVENTS.has(event.type);
}

/**
 * The key under which a coalesced event replaces a waiting one (null: never
 * replaced): its type, and for a job's progress the job, so that one job's
 * progress never hides another's.
 */
export function coalesceKey(event: StenoEvent): string | null {
  if (!isCoalesced(event)) return null;
  return event.type === 'job.progress' ? `job.progress:${event.id}` : event.type;
}
