import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { z } from 'zod';
import { App } from './App';
import { connectClient } from './api';
import { createControls, syncStore, toProblem, type RecordingControls } from './api/store-sync';
import { stenoStore } from './store';
import './styles.css';

// The CSP forbids eval: zod must not probe for it (the probe is reported as a violation).
z.config({ jitless: true });

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');

// The page's one client and its sync live as long as the page.
let controls: RecordingControls | null = null;
try {
  const client = connectClient();
  syncStore(client, stenoStore);
  controls = createControls(client, stenoStore);
} catch (e) {
  stenoStore.getState().connectionFailed(toProblem(e, 'connecting'));
}

createRoot(container).render(
  <StrictMode>
    <App controls={controls} />
  </StrictMode>,
);
