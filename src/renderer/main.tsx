import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { getStenoApi } from './steno-api';
import { stenoStore } from './store';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');

void stenoStore.getState().loadAppInfo(getStenoApi());

createRoot(container).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
