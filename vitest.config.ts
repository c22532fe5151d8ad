import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'e2e/**/*.test.ts', 'native/**/*.test.ts'],
    // Native addons and child processes: separate processes, not worker threads.
    pool: 'forks',
    // Leak tests force garbage collection between rounds.
    execArgv: ['--expose-gc'],
    // Two cores: tests that use the one virtual microphone or time real audio
    // must not overlap, and CPU-heavy ones must not starve each other.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The run's own STENO_HOME, and the virtual microphone brought up if it is not.
    globalSetup: ['src/testing/global-setup.ts'],
    setupFiles: ['src/testing/setup.ts'],
    reporters: ['default', './src/testing/summary-reporter.ts'],
  },
});
