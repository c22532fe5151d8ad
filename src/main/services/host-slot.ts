/**
 * The one global limit on model hosts: at most one host process runs, for a
 * live recording or for a file job, never both. A recording takes priority:
 * taking the slot for a recording first pauses the job that holds it (the job
 * stops at its commit point and its host is ended), and the jobs wait until
 * the recording's transcript is finished.
 */
import { Emitter } from '../../core/event';
import { Disposable, toDisposable, type IDisposable } from '../../core/lifecycle';

export class HostSlot extends Disposable {
  private readonly freedEmitter = this._register(new Emitter<void>());
  /** The slot became free for jobs (a recording's transcript finished). */
  readonly onDidFree = this.freedEmitter.event;
  private recordings = 0;
  /** Pauses the job that holds the slot; resolves once its host has ended. */
  private yieldJob: (() => Promise<void>) | null = null;

  /** A recording holds the slot (or is taking it): jobs must not start. */
  get heldByRecording(): boolean {
    return this.recordings > 0;
  }

  /** For a recording: pauses a running job and waits until its host has ended. */
  async takeForRecording(): Promise<IDisposable> {
    this.recordings++;
    let released = false;
    const release = toDisposable(() => {
      if (released) return;
      released = true;
      this.recordings--;
      if (this.recordings === 0) this.freedEmitter.fire();
    });
    try {
      await this.yieldJob?.();
    } catch (e) {
      release.dispose();
      throw e;
    }
    return release;
  }

  /**
   * For a job, while no recording holds the slot: `yieldNow` pauses it when a
   * recording comes. Returns null when a recording holds it.
   */
  holdForJob(yieldNow: () => Promise<void>): IDisposable | null {
    if (this.heldByRecording || this.yieldJob) return null;
    this.yieldJob = yieldNow;
    return toDisposable(() => {
      if (this.yieldJob === yieldNow) this.yieldJob = null;
    });
  }
}
