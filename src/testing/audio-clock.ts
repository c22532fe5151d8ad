/**
 * A RecordingClock on the audio's own time, for benchmarks and tests that
 * push audio faster (or slower) than real time: it moves only when `advance`
 * says that much audio was delivered, and fires each timer whenever its
 * period of audio has passed, in time order. Counts each timer's ticks by name.
 */
import { toDisposable, type IDisposable } from '../core/lifecycle';
import type { RecordingClock } from '../main/recording/wav-writer';

interface AudioClockTimer {
  name: string;
  periodMs: number;
  dueMs: number;
  tick: () => void;
}

export class AudioClock implements RecordingClock {
  private nowMs = 0;
  /** Capacity: the timers registered and not disposed (a recording's: a handful). */
  private readonly timers = new Set<AudioClockTimer>();
  /** Capacity: one entry per timer name. */
  private readonly ticks = new Map<string, number>();

  now(): number {
    return this.nowMs;
  }

  every(name: string, periodMs: number, tick: () => void): IDisposable {
    const timer = { name, periodMs, dueMs: this.nowMs + periodMs, tick };
    this.timers.add(timer);
    return toDisposable(() => this.timers.delete(timer));
  }

  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      let next: AudioClockTimer | null = null;
      for (const t of this.timers)
        if (t.dueMs <= target && (!next || t.dueMs < next.dueMs)) next = t;
      if (!next) break;
      this.nowMs = next.dueMs;
      next.dueMs += next.periodMs;
      this.ticks.set(next.name, (this.ticks.get(next.name) ?? 0) + 1);
      next.tick();
    }
    this.nowMs = target;
  }

  ticksOf(name: string): number {
    return this.ticks.get(name) ?? 0;
  }
}
