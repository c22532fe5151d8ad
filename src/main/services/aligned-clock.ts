/**
 * Periodic timers on one shared grid, so that a recording's timers wake the
 * process together instead of one by one. A task of period P runs at the
 * multiples of P counted from one origin shared by every task of the clock:
 * the ring's write and the writer's sync, the watchdog, the auto-stop check
 * and the metrics sample (1 s), the folder check and the native log's size
 * check (5 s) all run in the wake-ups of the 1 s grid, one a second in all,
 * where timers of their own would wake the process five or six times a
 * second (each wake-up of Node's main thread costs more CPU than the work
 * these checks do; bench/README.md, record-cpu).
 *
 * One Node timer is armed at a time, for the next grid point at which a task
 * is due; none while no task is registered. A task whose grid point passed
 * while the event loop was busy runs once, late, and then keeps to the grid
 * (as setInterval, it does not catch up).
 */
import { onUnexpectedError } from '../../core/unexpected-error';
import { toDisposable, type IDisposable } from '../../core/lifecycle';
import type { RecordingClock } from '../recording/wav-writer';

/**
 * A task due within this of a timer firing runs in it: Node may fire a timer
 * up to a millisecond before its time (it counts whole milliseconds).
 */
const EARLY_SLACK_MS = 2;

interface Task {
  readonly periodMs: number;
  readonly tick: () => void;
  readonly unref: boolean;
  /** performance.now() time of its next run, a multiple of periodMs from the origin. */
  dueAt: number;
}

export class AlignedClock implements RecordingClock {
  /**
   * Capacity: the periodic tasks of the services and of one recording (a
   * handful); each leaves when its owner disposes it, so none is ever dropped.
   */
  private readonly tasks = new Set<Task>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedFor = Infinity;
  private wakes = 0;

  constructor(private readonly originMs = performance.now()) {}

  now(): number {
    return performance.now();
  }

  every(
    _name: string,
    periodMs: number,
    tick: () => void,
    opts?: { unref?: boolean },
  ): IDisposable {
    if (!(periodMs > 0) || !Number.isFinite(periodMs)) {
      throw new RangeError(`a periodic task needs a positive period, not ${periodMs} ms`);
    }
    const task: Task = {
      periodMs,
      tick,
      unref: opts?.unref === true,
      dueAt: this.nextGridPoint(periodMs, this.now()),
    };
    this.tasks.add(task);
    this.arm();
    return toDisposable(() => {
      if (this.tasks.delete(task)) this.arm();
    });
  }

  /** Tasks registered now (for tests). */
  get taskCount(): number {
    return this.tasks.size;
  }

  /** Times the clock's timer fired so far: the wake-ups it cost (for tests). */
  get wakeCount(): number {
    return this.wakes;
  }

  /** The first multiple of `periodMs` from the origin that is later than `afterMs` (plus the slack). */
  private nextGridPoint(periodMs: number, afterMs: number): number {
    const k = Math.floor((afterMs + EARLY_SLACK_MS - this.originMs) / periodMs) + 1;
    return this.originMs + k * periodMs;
  }

  private arm(): void {
    let next = Infinity;
    let keepsAlive = false;
    for (const t of this.tasks) {
      if (t.dueAt < next) next = t.dueAt;
      if (!t.unref) keepsAlive = true;
    }
    if (next === this.armedFor && this.timer) {
      // Same time: only whether it keeps the process alive may have changed.
      if (keepsAlive) this.timer.ref();
      else this.timer.unref();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = next;
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
    if (!keepsAlive) this.timer.unref();
  }

  private fire(): void {
    this.wakes++;
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.now();
    // A copy: a tick may dispose tasks (its own or others) or add new ones.
    for (const t of [...this.tasks]) {
      if (t.dueAt > now + EARLY_SLACK_MS || !this.tasks.has(t)) continue;
      t.dueAt = this.nextGridPoint(t.periodMs, now);
      try {
        t.tick();
      } catch (e) {
        onUnexpectedError(e);
      }
    }
    this.arm();
  }
}

/** The clock the services and their recordings share. */
export const sharedClock = new AlignedClock();
