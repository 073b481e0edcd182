/** Timers the simulated controllers use; all cancelled on stop. */
export type Timing = 'fast' | 'realistic';

export interface Delays {
  /** VMI Pending → Scheduling → Scheduled → Running steps. */
  vmiPhase: number;
  /** VMI shutdown (deletion with a guest) before it disappears. */
  vmiStop: number;
  /** One DataVolume import progress step (there are several). */
  importStep: number;
  /** Deployment/pod scheduling step. */
  podStep: number;
  /** Delay between console transcript lines. */
  consoleLine: number;
}

export function delaysFor(timing: Timing): Delays {
  return timing === 'realistic'
    ? { vmiPhase: 700, vmiStop: 1500, importStep: 600, podStep: 300, consoleLine: 120 }
    : { vmiPhase: 1, vmiStop: 5, importStep: 2, podStep: 1, consoleLine: 0 };
}

export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  soon(fn: () => void): void {
    this.after(0, fn);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * A controller's work queue: keys added within `delayMs` are worked through together, each once; a
 * key whose work throws (a conflict with a concurrent writer) is added again 20 ms later.
 */
export class KeyQueue {
  private readonly keys = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly delayMs: number,
    private readonly work: (key: string) => void,
  ) {}

  add(key: string): void {
    this.keys.add(key);
    if (this.scheduled) return;
    this.scheduled = true;
    this.sched.after(this.delayMs, () => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const keys = [...this.keys];
    this.keys.clear();
    for (const key of keys) {
      try {
        this.work(key);
      } catch {
        this.sched.after(20, () => this.add(key));
      }
    }
  }
}
