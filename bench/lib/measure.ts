import { spawn } from 'node:child_process';
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
