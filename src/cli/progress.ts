// Owns the progress bars on stderr: shown only when stderr is a terminal (and not in --json mode), only once
// the work has taken a while (no flicker for fast runs), redrawn at most every 100 ms, cleared when it ends.
//
// Two kinds:
// - createProgress: the run command's load bar (stored GB, elapsed seconds; shown after 1 s) — unchanged;
// - createEtaProgress: a bar with an ETA for any counted work (loads in GB, graph calls, calibration steps,
//   perplexity tokens), shown after 2 s. One bar can go through phases (`update(done, total, phase)`): a new
//   phase restarts the ETA clock, never the 2 s delay, so a run of several short phases still shows progress.
// The formatting is pure (formatEta, etaMs, progressLine) and the clock is injectable, for tests.
import { resolve } from "node:path";

export interface Progress {
  /** Work done out of total; `phase` names the current phase (createEtaProgress shows it after the label). */
  update(done: number, total: number, phase?: string): void;
  end(): void;
}

export const NO_PROGRESS: Progress = { update() {}, end() {} };

/** What a command's IO needs for a progress bar. */
export interface ProgressIO {
  stderr: (s: string) => void;
  stderrIsTTY?: boolean;
}

const gb = (b: number) => (b / 1e9).toFixed(2);

/** The run command's load bar: stored GB and elapsed seconds, after 1 s, at most every 100 ms. */
export function createProgress(write: (s: string) => void, label: string, now: () => number = () => performance.now()): Progress {
  const start = now();
  let shown = false;
  let lastDraw = 0;
  return {
    update(done, total) {
      const t = now();
      if (t - start < 1000 || t - lastDraw < 100) return;
      lastDraw = t;
      shown = true;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const width = 30;
      const filled = Math.round(frac * width);
      write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${gb(done)}/${gb(total)} GB ${((t - start) / 1000).toFixed(1)} s`);
    },
    end() {
      if (shown) write("\r\x1b[2K");
    },
  };
}

/**
 * Remaining time at the phase's average pace so far: elapsed × (total − done) / done. 0 once done reaches
 * total; undefined before any work is done (no pace yet) or for a meaningless input.
 */
export function etaMs(elapsedMs: number, done: number, total: number): number | undefined {
  if (!(total > 0) || !(elapsedMs >= 0) || !Number.isFinite(elapsedMs)) return undefined;
  if (done >= total) return 0;
  if (!(done > 0)) return undefined;
  return (elapsedMs * (total - done)) / done;
}

/** "ETA 0:07", "ETA 12:34", "ETA 1:02:03"; "ETA --:--" when unknown. Rounded up to whole seconds. */
export function formatEta(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "ETA --:--";
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `ETA ${h}:${String(m).padStart(2, "0")}:${ss}` : `ETA ${m}:${ss}`;
}

export type ProgressUnit = "count" | "bytes";

/** One progress line (without the leading carriage return): label, bar, percent, done/total, elapsed, ETA. */
export function progressLine(label: string, done: number, total: number, elapsedMs: number, unit: ProgressUnit = "count", width = 24): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(frac * width);
  const amount = unit === "bytes" ? `${gb(done)}/${gb(total)} GB` : `${Math.min(done, total)}/${total}`;
  return `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${amount} ${(elapsedMs / 1000).toFixed(1)} s ${formatEta(etaMs(elapsedMs, done, total))}`;
}

export interface EtaProgressOptions {
  /** How done/total are shown (default "count"). */
  unit?: ProgressUnit;
  /** Milliseconds; defaults to performance.now. */
  now?: () => number;
  /** Nothing is drawn before this much time has passed since the bar was created (default 2000 ms). */
  delayMs?: number;
  /** Minimum time between two redraws (default 100 ms); a phase change always redraws. */
  intervalMs?: number;
}

/** A bar with an ETA (see the file header); `label` is shown first, then the phase when one is given. */
export function createEtaProgress(write: (s: string) => void, label: string, o: EtaProgressOptions = {}): Progress {
  const now = o.now ?? (() => performance.now());
  const delay = o.delayMs ?? 2000;
  const interval = o.intervalMs ?? 100;
  const start = now();
  let phase: string | undefined;
  let phaseStart = start;
  let shown = false;
  let lastDraw = -Infinity;
  return {
    update(done, total, p) {
      const t = now();
      let changed = false;
      if (p !== undefined && p !== phase) {
        phase = p;
        phaseStart = t;
        changed = true;
      }
      if (t - start < delay || (!changed && t - lastDraw < interval)) return;
      lastDraw = t;
      shown = true;
      // \x1b[K clears what a longer previous line left on the right.
      write(`\r${progressLine(phase !== undefined ? `${label}: ${phase}` : label, done, total, t - phaseStart, o.unit)}\x1b[K`);
    },
    end() {
      if (shown) write("\r\x1b[2K");
      shown = false;
    },
  };
}

/** A command's bar: a real one only when stderr is a terminal and `enabled` (callers pass !json), else NO_PROGRESS. */
export function ttyProgress(io: ProgressIO, enabled: boolean, label: string, unit: ProgressUnit = "count", now?: () => number): Progress {
  return io.stderrIsTTY === true && enabled ? createEtaProgress(io.stderr, label, { unit, now }) : NO_PROGRESS;
}

/** Runs f with the bar and ends (clears) it afterwards, also on a throw or a rejected promise. */
export function withProgress<T>(p: Progress, f: (p: Progress) => T): T {
  let r: T;
  try {
    r = f(p);
  } catch (e) {
    p.end();
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => p.end()) as T;
  p.end();
  return r;
}

/** The stderr line saying where a report was written (absolute path). */
export function writtenNote(what: string, path: string): string {
  return `${what} written to ${resolve(path)}\n`;
}
