import { selectConnection, useSteno, type Connection } from './store';

function connectionText(connection: Connection): string {
  switch (connection.status) {
    case 'connecting':
      return 'connecting…';
    case 'connected':
      return `v${connection.info.version} · ${connection.info.platform}`;
    case 'not-connected':
      return 'not connected';
    case 'failed':
      return `not connected: ${connection.message}`;
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

function RecordingPanel() {
  return (
    <section className="panel" aria-labelledby="recording-title">
      <h2 id="recording-title">Recording</h2>
      <button type="button" className="record" disabled aria-describedby="recording-note">
        Record
      </button>
      <p id="recording-note" className="note">
        Recording controls arrive with the live pipeline.
      </p>
    </section>
  );
}

export function App() {
  return (
    <div className="app">
      <header className="header">
        <h1>Steno</h1>
        <ConnectionBadge />
      </header>
      <main className="content">
        <RecordingPanel />
      </main>
    </div>
  );
}
