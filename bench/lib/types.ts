/** One comparison a benchmark prints: our figure, the floor's, and their ratio, from one run. */
export interface BenchResult {
  name: string;
  unit: 'ms' | 'MB' | 'requests';
  ours: number;
  floor: number;
  /** The target for ours / floor (for example 2 for "at most 2x the floor"). */
  maxRatio: number;
  notes?: string[];
}

export interface Benchmark {
  /** Short name used to pick it: `npm run bench -- sandbox`. */
  name: string;
  run(): Promise<BenchResult[]>;
}
