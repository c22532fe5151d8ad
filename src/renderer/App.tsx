import { memo, useEffect, useRef } from 'react';
import type { Segment } from '../core/api/types';
import type { RecordingControls } from './api/store-sync';
import {
  selectConnection,
  selectElapsedS,
  selectHostState,
  selectLastFinished,
  selectPendingCommand,
  selectProblem,
  selectRecording,
  selectSegments,
  selectSpeakerNames,
  stenoStore,
  useSteno,
  watchSteno,
  type Connection,
} from './store';

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function connectionText(connection: Connection): string {
  switch (connection.status) {
    case 'connecting':
      return 'connecting…';
    case 'connected':
      return `v${connection.info.version} · ${connection.info.platform}`;
    case 'failed':
      return `not connected: ${connection.problem.message}`;
  }
}

function ConnectionBadge() {
  const connection = useSteno(selectConnection);
  return (
    <span
      className="badge"
      data-status={connection.status}
      role="status"
      aria-label="Backend connection"
    >
      {connectionText(connection)}
    </span>
  );
}

/** Updated ten times a second from the store's live values, outside React. */
function Elapsed() {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(
    () =>
      watchSteno(stenoStore, selectElapsedS, (seconds) => {
        if (ref.current) ref.current.textContent = formatDuration(seconds ?? 0);
      }),
    [],
  );
  return (
    <span ref={ref} aria-label="Elapsed time">
      0:00
    </span>
  );
}

function ProblemNotice() {
  const problem = useSteno(selectProblem);
  if (!problem) return null;
  return (
    <div role="alert" data-code={problem.code}>
      <p>{problem.message}</p>
      <p className="note">{problem.action}</p>
      <button type="button" onClick={() => stenoStore.getState().dismissProblem()}>
        Dismiss
      </button>
    </div>
  );
}

function RecordingControlsBar({ controls }: { controls: RecordingControls | null }) {
  const connected = useSteno((s) => s.connection.status === 'connected');
  const recording = useSteno(selectRecording);
  const busy = useSteno(selectPendingCommand) !== null;
  const ready = connected && controls !== null && !busy;
  const state = recording?.state ?? null;
  return (
    <div role="group" aria-label="Recording controls">
      <button
        type="button"
        className="record"
        disabled={!ready || recording !== null}
        onClick={() => void controls?.start()}
      >
        Record
      </button>{' '}
      <button
        type="button"
        disabled={!ready || state !== 'recording'}
        onClick={() => void controls?.pause()}
      >
        Pause
      </button>{' '}
      <button
        type="button"
        disabled={!ready || state !== 'paused'}
        onClick={() => void controls?.resume()}
      >
        Resume
      </button>{' '}
      <button
        type="button"
        disabled={!ready || (state !== 'recording' && state !== 'paused')}
        onClick={() => void controls?.stop()}
      >
        Stop
      </button>
    </div>
  );
}

function RecordingStatus() {
  const recording = useSteno(selectRecording);
  const lastFinished = useSteno(selectLastFinished);
  if (recording) {
    return (
      <p className="note" aria-live="polite">
        {recording.state === 'recording'
          ? 'Recording'
          : recording.state === 'paused'
            ? 'Paused'
            : 'Stopping'}{' '}
        on {recording.device} · <Elapsed />
        {recording.transcribing ? '' : ' · live transcript off'}
      </p>
    );
  }
  if (lastFinished) {
    return (
      <p className="note" aria-live="polite">
        Saved {lastFinished.recording.id} ({formatDuration(lastFinished.recording.durationS)}).
      </p>
    );
  }
  return <p className="note">Not recording.</p>;
}

const SegmentRow = memo(function SegmentRow({
  segment,
  speaker,
}: {
  segment: Segment;
  speaker: string;
}) {
  return (
    <li data-segment={segment.id}>
      <span className="note">{formatDuration(segment.startS)}</span> <strong>{speaker}</strong>
      {segment.overlap ? (
        <span className="note" title="Two people speak at once here">
          {' '}
          (overlap)
        </span>
      ) : null}
      : {segment.text || '…'}
    </li>
  );
});

function LiveTranscript() {
  const segments = useSteno(selectSegments);
  const names = useSteno(selectSpeakerNames);
  const hostState = useSteno(selectHostState);
  return (
    <section aria-labelledby="transcript-title">
      <h2 id="transcript-title">Transcript</h2>
      <p className="note">Transcriber: {hostState}</p>
      {segments.length === 0 ? (
        <p className="note">No segments yet.</p>
      ) : (
        <ol aria-label="Live transcript">
          {segments.map((s) => (
            <SegmentRow
              key={s.id}
              segment={s}
              speaker={names[s.speaker] ?? `Speaker ${s.speaker + 1}`}
            />
          ))}
        </ol>
      )}
    </section>
  );
}

export function App({ controls }: { controls: RecordingControls | null }) {
  return (
    <div className="app">
      <header className="header">
        <h1>Steno</h1>
        <ConnectionBadge />
      </header>
      <main className="content">
        <section className="panel" aria-labelledby="recording-title">
          <h2 id="recording-title">Recording</h2>
          <RecordingControlsBar controls={controls} />
          <RecordingStatus />
          <ProblemNotice />
          <LiveTranscript />
        </section>
      </main>
    </div>
  );
}
