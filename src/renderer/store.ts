import { useStore } from 'zustand';
import { createStore, type StateCreator, type StoreApi } from 'zustand/vanilla';
import type { CommandName } from '../core/api/commands';
import type { StenoEvent } from '../core/api/events';
import type {
  ApiError,
  AppInfo,
  AppState,
  HostState,
  LiveRecording,
  Metrics,
  RecordingSummary,
  Segment,
  Settings,
} from '../core/api/types';

/**
 * One store, in slices, fed by the API's events. Components read it through
 * the smallest selector that serves them, so a change re-renders only what
 * shows it. High-frequency values (level, progress, metrics, the partial)
 * live in the `live` slice, which components read with `stenoStore.subscribe`
 * and refs, never through a React selector: ten updates a second must not
 * re-render anything.
 */

/**
 * The live transcript segments the store keeps. Capacity: the last 500 of
 * the recording; an older one is dropped from the store when a newer one
 * arrives (the transcript view pages older ones from the backend).
 */
export const MAX_LIVE_SEGMENTS = 500;

/** An error a person reads: what happened and what to do next. */
export interface Problem extends ApiError {
  /** What was going on: a command's name, or an error event's context. */
  readonly context: string;
}

export type Connection =
  | { readonly status: 'connecting' }
  | { readonly status: 'connected'; readonly info: AppInfo }
  | { readonly status: 'failed'; readonly problem: Problem };

export interface ConnectionSlice {
  readonly connection: Connection;
  connectionOpened(info: AppInfo): void;
  connectionFailed(problem: Problem): void;
}

export interface RecordingSlice {
  /** The recording in progress, or null. */
  readonly recording: LiveRecording | null;
  readonly hostState: HostState;
  /** Null until the first state arrives. */
  readonly settings: Settings | null;
  /** The last recording that became final, and why it ended. */
  readonly lastFinished: { readonly recording: RecordingSummary; readonly reason: string } | null;
  /** The recording the segments belong to. */
  readonly transcriptId: string | null;
  /** The last MAX_LIVE_SEGMENTS segments of `transcriptId`, in id order. */
  readonly segments: readonly Segment[];
  /** Names given to speakers of `transcriptId`; a speaker without one is "Speaker n". */
  readonly speakerNames: Readonly<Record<number, string>>;
  /** The last problem: a failed command or an error event; cleared by the next command. */
  readonly problem: Problem | null;
  /** The command a button started and that has not answered yet. */
  readonly pendingCommand: CommandName | null;
  applyEvent(event: StenoEvent): void;
  /** A command answered with the recording in progress. */
  recordingChanged(recording: LiveRecording): void;
  /** A stop answered with the final recording. */
  recordingStopped(recording: RecordingSummary): void;
  /** Segments fetched from the backend (after a resync), merged with those that arrived. */
  mergeSegments(id: string, segments: readonly Segment[], names: Record<string, string>): void;
  commandStarted(command: CommandName): void;
  commandFinished(command: CommandName): void;
  reportProblem(problem: Problem): void;
  dismissProblem(): void;
}

/** Values that change many times a second; read them with `subscribe`, not selectors. */
export interface LiveValues {
  readonly level: { readonly peakDbfs: number; readonly rmsDbfs: number } | null;
  readonly progress: {
    readonly id: string;
    readonly elapsedS: number;
    readonly durableS: number;
  } | null;
  readonly metrics: Metrics | null;
  readonly partial: { readonly id: string; readonly text: string } | null;
}

export interface LiveSlice {
  readonly live: LiveValues;
}

export type StenoState = ConnectionSlice & RecordingSlice & LiveSlice;
export type StenoStore = StoreApi<StenoState>;

type Slice<T> = StateCreator<StenoState, [], [], T>;

const createConnectionSlice: Slice<ConnectionSlice> = (set) => ({
  connection: { status: 'connecting' },
  connectionOpened: (info) => set({ connection: { status: 'connected', info } }),
  connectionFailed: (problem) => set({ connection: { status: 'failed', problem } }),
});

const NO_LIVE_VALUES: LiveValues = { level: null, progress: null, metrics: null, partial: null };

const createLiveSlice: Slice<LiveSlice> = () => ({ live: NO_LIVE_VALUES });

/** The newest `MAX_LIVE_SEGMENTS` of `segments` (already in id order). */
function lastSegments(segments: Segment[]): Segment[] {
  return segments.length > MAX_LIVE_SEGMENTS
    ? segments.slice(segments.length - MAX_LIVE_SEGMENTS)
    : segments;
}

/** What the store keeps of a new recording's transcript: nothing yet. */
function freshTranscript(id: string) {
  return { transcriptId: id, segments: [] as Segment[], speakerNames: {} };
}

const createRecordingSlice: Slice<RecordingSlice> = (set, get) => {
  const setLive = (values: Partial<LiveValues>) => set({ live: { ...get().live, ...values } });

  /** A recording now in progress; a new one starts a new transcript. */
  const withRecording = (recording: LiveRecording | null) => {
    const { transcriptId } = get();
    return recording && recording.id !== transcriptId
      ? { recording, ...freshTranscript(recording.id) }
      : { recording };
  };

  const applyState = (state: AppState) => {
    set({
      ...withRecording(state.recording),
      hostState: state.hostState,
      settings: state.settings,
    });
    setLive({ metrics: state.metrics });
  };

  const addSegment = (id: string, segment: Segment) => {
    const current = get();
    if (id !== current.transcriptId) {
      set({ ...freshTranscript(id), segments: [segment] });
      return;
    }
    const last = current.segments[current.segments.length - 1];
    if (last && segment.id <= last.id) {
      // Out of order or seen already (a resync fetched it): merge by id.
      current.mergeSegments(id, [segment], {});
      return;
    }
    set({ segments: lastSegments([...current.segments, segment]) });
  };

  return {
    recording: null,
    hostState: 'stopped',
    settings: null,
    lastFinished: null,
    transcriptId: null,
    segments: [],
    speakerNames: {},
    problem: null,
    pendingCommand: null,

    applyEvent(event) {
      switch (event.type) {
        case 'state':
          applyState(event.state);
          return;
        case 'recording.state':
          set(withRecording(event.recording));
          return;
        case 'recording.finished':
          set({
            recording: null,
            lastFinished: { recording: event.recording, reason: event.reason },
          });
          setLive({ progress: null, level: null, partial: null });
          return;
        case 'recording.failed':
          set({
            recording: null,
            lastFinished: { recording: event.recording, reason: 'error' },
            problem: { ...event.error, context: 'recording' },
          });
          setLive({ progress: null, level: null, partial: null });
          return;
        case 'transcript.segment':
          addSegment(event.id, event.segment);
          if (get().live.partial?.id === event.id) setLive({ partial: null });
          return;
        case 'transcript.relabelled': {
          if (event.id !== get().transcriptId) return;
          const changeOf = new Map(event.changes.map((c) => [c.segment, c]));
          set({
            segments: get().segments.map((s) => {
              const change = changeOf.get(s.id);
              if (!change) return s;
              const { overlap: _old, ...rest } = s;
              return {
                ...rest,
                speaker: change.speaker,
                ...(change.overlap ? { overlap: true } : {}),
              };
            }),
          });
          return;
        }
        case 'speaker.renamed':
          if (event.id !== get().transcriptId) return;
          set({ speakerNames: { ...get().speakerNames, [event.speaker]: event.name } });
          return;
        case 'host.state':
          set({ hostState: event.state });
          return;
        case 'settings.changed':
          set({ settings: event.settings });
          return;
        case 'error':
          set({ problem: { ...event.error, context: event.context } });
          return;
        case 'recording.progress':
          setLive({
            progress: { id: event.id, elapsedS: event.elapsedS, durableS: event.durableS },
          });
          return;
        case 'recording.level':
          setLive({ level: { peakDbfs: event.peakDbfs, rmsDbfs: event.rmsDbfs } });
          return;
        case 'metrics':
          setLive({ metrics: event.metrics });
          return;
        case 'transcript.partial':
          setLive({ partial: { id: event.id, text: event.partial.text } });
          return;
        case 'recording.recovered':
        case 'recording.deleted':
        case 'transcript.finished':
          // The library view shows these; this window has none yet.
          return;
        case 'job.updated':
        case 'job.progress':
        case 'job.removed':
          // The job list is drawn by the drop zone's view; this window has none yet.
          return;
        case 'server.listening':
        case 'server.stopped':
          // Said to the terminal that runs `steno serve`, not to a window.
          return;
        default: {
          const unhandled: never = event;
          void unhandled;
        }
      }
    },

    recordingChanged: (recording) => set(withRecording(recording)),

    recordingStopped(recording) {
      const live = get().recording;
      set({
        recording: live && live.id !== recording.id ? live : null,
        lastFinished: { recording, reason: recording.stopReason ?? 'user' },
      });
    },

    mergeSegments(id, segments, names) {
      const current = get();
      const base = id === current.transcriptId ? current : freshTranscript(id);
      const byId = new Map<number, Segment>();
      for (const s of base.segments) byId.set(s.id, s);
      for (const s of segments) byId.set(s.id, s);
      const merged = [...byId.values()].sort((a, b) => a.id - b.id);
      const speakerNames: Record<number, string> = { ...base.speakerNames };
      for (const [speaker, name] of Object.entries(names)) speakerNames[Number(speaker)] = name;
      set({ transcriptId: id, segments: lastSegments(merged), speakerNames });
    },

    commandStarted: (command) => set({ pendingCommand: command, problem: null }),
    commandFinished: (command) => {
      if (get().pendingCommand === command) set({ pendingCommand: null });
    },
    reportProblem: (problem) => set({ problem }),
    dismissProblem: () => set({ problem: null }),
  };
};

/** A new store; tests make their own, the app uses `stenoStore`. */
export function createStenoStore(): StenoStore {
  return createStore<StenoState>()((...a) => ({
    ...createConnectionSlice(...a),
    ...createRecordingSlice(...a),
    ...createLiveSlice(...a),
  }));
}

export const stenoStore = createStenoStore();

export function useSteno<T>(selector: (state: StenoState) => T): T {
  return useStore(stenoStore, selector);
}

/**
 * Calls `onChange` with `select(state)` now and whenever it changes (by
 * `Object.is`), outside React: for refs that show high-frequency values.
 * Returns the unsubscribe.
 */
export function watchSteno<T>(
  store: StenoStore,
  select: (state: StenoState) => T,
  onChange: (value: T) => void,
): () => void {
  let last = select(store.getState());
  onChange(last);
  return store.subscribe((state) => {
    const next = select(state);
    if (Object.is(next, last)) return;
    last = next;
    onChange(next);
  });
}

// Selectors: one value each, stable references.
export const selectConnection = (s: StenoState): Connection => s.connection;
export const selectRecording = (s: StenoState): LiveRecording | null => s.recording;
export const selectHostState = (s: StenoState): HostState => s.hostState;
export const selectSegments = (s: StenoState): readonly Segment[] => s.segments;
export const selectSpeakerNames = (s: StenoState): Readonly<Record<number, string>> =>
  s.speakerNames;
export const selectProblem = (s: StenoState): Problem | null => s.problem;
export const selectPendingCommand = (s: StenoState): CommandName | null => s.pendingCommand;
export const selectLastFinished = (s: StenoState): RecordingSlice['lastFinished'] => s.lastFinished;
export const selectSettings = (s: StenoState): Settings | null => s.settings;

/** Seconds recorded so far: the latest progress of the live recording, else its last state. */
export function selectElapsedS(s: StenoState): number | null {
  const recording = s.recording;
  if (!recording) return null;
  const progress = s.live.progress;
  return progress && progress.id === recording.id ? progress.elapsedS : recording.elapsedS;
}
