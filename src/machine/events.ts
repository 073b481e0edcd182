import type { MachineEvent } from './types.ts';

/**
 * Ordered, asynchronous delivery of machine events to listeners. Emitting never runs listener code
 * synchronously (a backend may emit while holding state mid-update), and a throwing listener is
 * isolated from the others.
 */
export class MachineEventHub {
  readonly #listeners = new Set<(event: MachineEvent) => void>();
  readonly #queue: MachineEvent[] = [];
  #scheduled = false;

  on(listener: (event: MachineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  emit(event: MachineEvent): void {
    if (this.#listeners.size === 0) return;
    this.#queue.push(event);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const events = this.#queue.splice(0);
    for (const event of events) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(event);
        } catch {
          // A faulty listener must not break delivery to the others.
        }
      }
    }
  }
}
