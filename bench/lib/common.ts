/**
 * Shared helpers of the benchmarks: command-line flags, latency percentiles, result tables,
 * resident memory of a process, and a child process that serves a baseline or our own server.
 */
import { readFileSync } from 'node:fs';

/** `--name=value` or `--name value`; a bare `--name` is "true". */
export function flag(name: string): string | undefined {
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) {
      const next = argv[i + 1];
      return next !== undefined && !next.startsWith('--') ? next : 'true';
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function numFlag(names: string | string[], fallback: number): number {
  for (const n of Array.isArray(names) ? names : [names]) {
    const v = flag(n);
    if (v === undefined) continue;
    const x = Number(v);
    if (!Number.isFinite(x)) throw new Error(`--${n} must be a number, got ${v}`);
    return x;
  }
  return fallback;
}

export function strFlag(name: string, fallback: string): string;
export function strFlag(name: string, fallback?: string): string | undefined;
export function strFlag(name: string, fallback?: string): string | undefined {
  return flag(name) ?? fallback;
}

export function boolFlag(name: string): boolean {
  const v = flag(name);
  return v !== undefined && v !== 'false' && v !== '0';
}

/** Password from --password, --password-file or an environment variable (never printed). */
export function passwordFlag(fallback: string): string {
  const file = flag('password-file');
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  return flag('password') ?? process.env.BMC_PASSWORD ?? fallback;
}

export interface LoadResult {
  readonly name: string;
  /** Completed operations. */
  readonly count: number;
  readonly errors: number;
  readonly seconds: number;
  /** Latencies in microseconds. */
  readonly p50: number;
  readonly p99: number;
}

/** Collects latencies (µs) and turns them into a LoadResult. */
export class Recorder {
  readonly latencies: number[] = [];
  errors = 0;
  readonly #t0 = process.hrtime.bigint();

  static now(): bigint {
    return process.hrtime.bigint();
  }

  add(startedAt: bigint): void {
    this.latencies.push(Number(process.hrtime.bigint() - startedAt) / 1000);
  }

  result(name: string): LoadResult {
    const seconds = Number(process.hrtime.bigint() - this.#t0) / 1e9;
    const l = this.latencies.sort((a, b) => a - b);
    return { name, count: l.length, errors: this.errors, seconds, p50: pct(l, 0.5), p99: pct(l, 0.99) };
  }
}

/** Percentile of an ascending array (NaN when empty). */
export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export function rate(r: LoadResult): number {
  return r.count / r.seconds;
}

/**
 * Prints a table of results; each row also gives its throughput as a fraction of `baseline` (the
 * bare runtime's figure from the same run). Lines start with the row name so scripts can grep them.
 */
export function printTable(results: readonly LoadResult[], baseline?: LoadResult, unit = 'req/s'): void {
  const w = Math.max(30, ...results.map((r) => r.name.length));
  console.log(
    `${'measurement'.padEnd(w)} ${unit.padStart(9)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'vs base'.padStart(8)} ${'errors'.padStart(7)}`,
  );
  for (const r of results) {
    const ratio = baseline ? `${((rate(r) / rate(baseline)) * 100).toFixed(0)}%` : '-';
    console.log(
      `${r.name.padEnd(w)} ${rate(r).toFixed(0).padStart(9)} ${fmtUs(r.p50).padStart(8)} ${fmtUs(r.p99).padStart(8)} ${ratio.padStart(8)} ${String(r.errors).padStart(7)}`,
    );
  }
}

function fmtUs(x: number): string {
  return Number.isNaN(x) ? '-' : x.toFixed(0);
}

/** Resident set size of a process in bytes, from /proc (Linux); null elsewhere. */
export function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The one-line description of the conditions a figure was taken in. */
export function conditions(): string {
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    load = 'n/a';
  }
  return `${new Date().toISOString()}, node ${process.version}, load average ${load}`;
}
