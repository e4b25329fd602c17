// Owns the load progress bar on stderr: shown only when stderr is a terminal, not in --json mode, and
// only once a load has taken more than a second; cleared when the load ends.

export interface Progress {
  update(done: number, total: number): void;
  end(): void;
}

export const NO_PROGRESS: Progress = { update() {}, end() {} };

const gb = (b: number) => (b / 1e9).toFixed(2);

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
