import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const benchRoot = path.resolve(import.meta.dirname, '..');

/** Wall-clock milliseconds `work` takes. */
export async function timeIt(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export interface ChildMeasurement<T> {
  result: T;
  wallMs: number;
  cpuMs: number;
  maxRssMB: number;
}

/**
 * Calls `exportName(args)` from `modulePath` in a fresh Node process (through tsx) and returns
 * its result with the process's wall time, CPU time and peak resident memory.
 */
export function runInChild<T>(
  modulePath: string,
  exportName: string,
  args?: unknown,
  options: { nodeArgs?: string[] } = {},
): Promise<ChildMeasurement<T>> {
  const tsx = path.resolve(benchRoot, '../node_modules/tsx/dist/cli.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeArgs ?? []),
        tsx,
        path.join(benchRoot, 'lib/child.ts'),
        modulePath,
        exportName,
        JSON.stringify(args ?? null),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('@@result '));
      if (code !== 0 || !line) {
        reject(new Error(`${modulePath}#${exportName} exited with ${code}: ${out.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line.slice('@@result '.length)) as ChildMeasurement<T>);
    });
  });
}

export interface CliMeasurement {
  code: number;
  stdout: string;
  stderr: string;
  /** The process's peak resident memory (VmHWM), read from /proc while it runs. */
  peakRssMB: number;
}

/**
 * Runs the segsync CLI as users run it (bin/segsync: the compiled build, see ensureBuild) and
 * returns its output and peak memory. The peak is the kernel's high-water mark, polled: it only
 * grows, so the last reading before the process exits misses at most the final few milliseconds.
 */
export function runCliMeasured(args: string[], env: NodeJS.ProcessEnv): Promise<CliMeasurement> {
  const bin = path.resolve(benchRoot, '../bin/segsync');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let peakKB = 0;
    const poll = setInterval(() => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKB = Math.max(peakKB, kb);
      } catch {
        // The process is gone, or not yet there.
      }
    }, 10);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearInterval(poll);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code: code ?? 1, stdout, stderr, peakRssMB: peakKB / 1024 });
    });
  });
}

/**
 * Builds dist/ from the current sources, so CLI measurements run the compiled code (a stale build
 * would make bin/segsync fall back to the sources through tsx, which costs about 60 MB and
 * start-up time that users of the built package never pay).
 */
export function ensureBuild(): void {
  const result = spawnSync(
    process.execPath,
    [path.resolve(benchRoot, '../scripts/build.mjs'), '--strict'],
    {
      stdio: 'inherit',
    },
  );
  if (result.status !== 0) throw new Error('the build failed; benchmarks need dist/');
}
