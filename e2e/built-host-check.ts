/**
 * After `electron-vite build`: the bundled model host (out/main/host.js, what
 * the app forks) loads real models and answers. Bundling once broke this
 * (a local `require` clashed with the bundle's own); the source-level tests
 * cannot see such faults. Run by .ci/run; exits non-zero on failure.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { testModels } from '../src/testing/test-models';
import { bundledVadModelPath } from '../src/main/models';
import { HOST_ENV } from '../src/main/transcription/host-process';
import { REPO_ROOT } from './support/steno-cli';

const models = await testModels();
const host = fork(path.join(REPO_ROOT, 'out/main/host.js'), [], {
  serialization: 'advanced',
  stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  env: { ...process.env, ...HOST_ENV },
});
const timer = setTimeout(() => {
  console.error('built-host-check: no answer from out/main/host.js within 60 s');
  host.kill('SIGKILL');
  process.exit(1);
}, 60_000);
host.on(
  'message',
  (m: { type: string; info?: { embeddingDimension: number }; error?: { message: string } }) => {
    clearTimeout(timer);
    if (m.type === 'ready' && m.info?.embeddingDimension === 256) {
      console.log('built-host-check: out/main/host.js loaded the models');
      host.send({ type: 'shutdown' });
      host.on('exit', (code) => process.exit(code === 0 ? 0 : 1));
    } else {
      console.error(`built-host-check: unexpected reply ${JSON.stringify(m)}`);
      host.kill('SIGKILL');
      process.exit(1);
    }
  },
);
host.send({
  type: 'configure',
  id: 1,
  models: { whisper: models.whisper, embedding: models.embedding, vad: bundledVadModelPath() },
  options: { language: 'en', threads: 1, maxTokens: 8, partials: false, embeddingWindowS: 1.5 },
});
