// Summaries of timing samples. Medians and high percentiles only: on a shared
// 2-core machine the mean is dragged around by whoever else is running.

export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an already sorted list. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export function median(samples: readonly number[]): number {
  return summarize(samples).median;
}

/**
 * Median of the per-round ratios a[i] / b[i]. Each round ran A and B back to
 * back, so a burst of load from elsewhere hits both sides of one ratio.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(a[i]! / b[i]!);
  return median(ratios);
}

/** Same pairing for differences: median of a[i] - b[i]. */
export function pairedDifference(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const diffs: number[] = [];
  for (let i = 0; i < n; i++) diffs.push(a[i]! - b[i]!);
  return median(diffs);
}

/** Rounds for JSON: microsecond resolution is all a millisecond timer on a noisy VM can say. */
export function rounded(samples: readonly number[], digits = 3): number[] {
  const f = 10 ** digits;
  return samples.map((x) => Math.round(x * f) / f);
}
