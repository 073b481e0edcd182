import type { Machine, MediaSlot } from '../machine/index.ts';
import { type ExtendedInfo, message } from './messages.ts';

/**
 * Tasks for long operations (DSP0266 "Asynchronous operations"). A virtual-media insert is the long
 * operation here: the Machine accepts it at once and fetches or imports the image afterwards. The
 * task follows the slot through the Machine's `media` events until the image is readable or failed.
 */
export type TaskState = 'New' | 'Running' | 'Completed' | 'Exception' | 'Cancelled';

export interface Task {
  readonly id: string;
  readonly name: string;
  readonly startTime: Date;
  endTime: Date | null;
  state: TaskState;
  status: 'OK' | 'Warning' | 'Critical';
  percent: number;
  messages: ExtendedInfo[];
  readonly payload: { targetUri: string; method: string; body: unknown };
}

const KEEP_FINISHED_MS = 15 * 60_000;
const MAX_TASKS = 256;

export class TaskStore {
  readonly #tasks = new Map<string, Task>();
  #next = 1;

  list(): Task[] {
    this.#prune();
    return [...this.#tasks.values()];
  }

  get(id: string): Task | undefined {
    return this.#tasks.get(id);
  }

  /** Starts a task tracking an insert into `slotId` of `machine`; it finishes by itself. */
  trackInsert(machine: Machine, slotId: string, image: string, targetUri: string, body: unknown): Task {
    this.#prune();
    const task: Task = {
      id: String(this.#next++),
      name: `Insert ${image} into ${slotId}`,
      startTime: new Date(),
      endTime: null,
      state: 'Running',
      status: 'OK',
      percent: 0,
      messages: [],
      payload: { targetUri, method: 'POST', body },
    };
    this.#tasks.set(task.id, task);
    const update = (slot: MediaSlot): boolean => {
      if (slot.id !== slotId) return false;
      if (slot.image !== image && slot.state !== 'Empty') return this.#finish(task, 'Cancelled', 'Warning');
      switch (slot.state) {
        case 'Inserting':
          task.percent = slot.progressPercent ?? task.percent;
          return false;
        case 'Inserted':
          task.percent = 100;
          task.messages = [message('Success')];
          return this.#finish(task, 'Completed', 'OK');
        case 'Failed':
          task.messages = [message('GeneralError')];
          if (slot.message) task.messages[0] = { ...task.messages[0]!, Resolution: slot.message };
          return this.#finish(task, 'Exception', 'Critical');
        default:
          // Ejected before the insert completed.
          return this.#finish(task, 'Cancelled', 'Warning');
      }
    };
    const current = machine.getMediaSlots().find((s) => s.id === slotId);
    if (current && update(current)) return task;
    const off = machine.on((event) => {
      if (event.type === 'media' && update(event.slot)) off();
    });
    return task;
  }

  #finish(task: Task, state: TaskState, status: Task['status']): true {
    task.state = state;
    task.status = status;
    task.endTime = new Date();
    return true;
  }

  #prune(): void {
    const now = Date.now();
    for (const [id, t] of this.#tasks) {
      if (t.endTime && now - t.endTime.getTime() > KEEP_FINISHED_MS) this.#tasks.delete(id);
    }
    while (this.#tasks.size >= MAX_TASKS) {
      const oldest = [...this.#tasks.values()].find((t) => t.endTime);
      if (!oldest) break;
      this.#tasks.delete(oldest.id);
    }
  }
}

export function isTaskDone(task: Task): boolean {
  return task.state === 'Completed' || task.state === 'Exception' || task.state === 'Cancelled';
}
