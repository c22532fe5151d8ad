import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { Disposable, toDisposable } from '../core/lifecycle';

export interface RssPeak {
  /** Largest resident set size seen between begin() and end(), bytes. */
  peakBytes: number;
  samples: number;
}

/**
 * Samples the process's resident set size every `intervalMs` from a worker
 * thread: the samples keep coming while the main thread is busy (a loop
 * that never yields would otherwise hide its own peak). Start it before the
 * baseline is taken: the worker's own memory is then part of the baseline.
 */
export class RssSampler extends Disposable {
  private constructor(private readonly worker: Worker) {
    super();
    this._register(toDisposable(() => void worker.terminate()));
  }

  static async start(intervalMs = 2): Promise<RssSampler> {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      let peak = 0;
      let samples = 0;
      let timer = null;
      const sample = () => {
        const rss = process.memoryUsage.rss();
        if (rss > peak) peak = rss;
        samples++;
      };
      parentPort.on('message', (m) => {
        if (m === 'begin') {
          peak = 0;
          samples = 0;
          sample();
          timer = setInterval(sample, ${intervalMs});
          parentPort.postMessage(peak);
        } else if (m === 'end') {
          clearInterval(timer);
          sample();
          parentPort.postMessage({ peakBytes: peak, samples });
        }
      });
      parentPort.postMessage('ready');
      `,
      { eval: true },
    );
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new RssSampler(worker);
  }

  /** Starts sampling; resolves with the first sample, once sampling runs. */
  begin(): Promise<number> {
    return this.ask<number>('begin');
  }

  /** Stops sampling; resolves with the peak since begin(). */
  end(): Promise<RssPeak> {
    return this.ask<RssPeak>('end');
  }

  private ask<T>(message: string): Promise<T> {
    return new Promise((resolve) => {
      this.worker.once('message', (m: T) => resolve(m));
      this.worker.postMessage(message);
    });
  }
}

/**
 * Forces full garbage collections, then makes short-lived garbage until the
 * young generation has cycled through all of its space. A forced full
 * collection lets V8 commit a larger young generation whose pages only
 * become resident when the next megabytes of ordinary allocation reach
 * them: RSS that any process that has been running has anyway, and that
 * would otherwise be charged to whatever is measured next.
 */
export function settleHeap(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('measuring memory needs --expose-gc (vitest.config.ts passes it)');
  gc();
  gc();
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  // Twice the young generation, in small objects that die at once.
  const bytes = 2 * (young?.space_size ?? 32 * 1024 * 1024);
  let sink: unknown = null;
  for (let made = 0; made < bytes; made += 64) sink = { made, next: sink === null ? null : 0 };
  if (sink === undefined) throw new Error('unreachable'); // keeps the loop from being dropped
}
