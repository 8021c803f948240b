// Runs one exported function of a module in this fresh process and prints its result with the
// process's CPU time and peak memory, so memory figures of one scenario are not polluted by another.
import { pathToFileURL } from 'node:url';

const [modulePath, exportName, argsJson] = process.argv.slice(2);
if (!modulePath || !exportName) throw new Error('usage: child.ts MODULE EXPORT [ARGS_JSON]');
const loaded = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
const fn = loaded[exportName];
if (typeof fn !== 'function') throw new Error(`${modulePath} has no function ${exportName}`);
const started = performance.now();
const result: unknown = await (fn as (args: unknown) => Promise<unknown>)(
  argsJson ? JSON.parse(argsJson) : undefined,
);
const usage = process.resourceUsage();
process.stdout.write(
  `\n@@result ${JSON.stringify({
    result,
    wallMs: performance.now() - started,
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssMB: usage.maxRSS / 1024,
  })}\n`,
);
