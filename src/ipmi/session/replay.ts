/**
 * Inbound sequence-number window (anti-replay). A number is accepted when it is non-zero, has not
 * been accepted before, and lies within `width` below or above the highest accepted one. State
 * changes only through `accept`, which callers invoke after the packet authenticated.
 */
export class SequenceWindow {
  readonly #width: number;
  #highest: number;
  /** Bit i set = number (highest - i) accepted, for i < width. */
  #seen = 0;
  #started: boolean;

  /** `start` = the first number expected (1.5), or undefined to take the first packet as baseline (2.0). */
  constructor(width: number, start?: number) {
    this.#width = Math.min(width, 32);
    this.#started = start !== undefined;
    this.#highest = start !== undefined ? (start - 1) >>> 0 : 0;
    // the number before the first expected one counts as used
    this.#seen = start !== undefined ? 1 : 0;
  }

  /** Whether `seq` would be accepted, without changing state. */
  check(seq: number): boolean {
    seq >>>= 0;
    if (seq === 0) return false;
    if (!this.#started) return true;
    const ahead = (seq - this.#highest) | 0;
    if (ahead > 0) return ahead <= this.#width;
    const behind = -ahead;
    if (behind >= this.#width) return false;
    return (this.#seen & (1 << behind)) === 0;
  }

  /** Records `seq` (call only after `check` passed and the packet authenticated). */
  accept(seq: number): void {
    seq >>>= 0;
    if (!this.#started) {
      this.#started = true;
      this.#highest = seq;
      this.#seen = 1;
      return;
    }
    const ahead = (seq - this.#highest) | 0;
    if (ahead > 0) {
      this.#seen = ahead >= 32 ? 1 : ((this.#seen << ahead) | 1) >>> 0;
      this.#highest = seq;
    } else {
      this.#seen = (this.#seen | (1 << -ahead)) >>> 0;
    }
  }
}
