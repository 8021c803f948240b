import { InvalidArgumentError } from 'commander';

/** Parses a `--port` value; commander turns the thrown error into a usage error (exit 2). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  }
  return port;
}

/** Parses a whole, non-negative number option such as `--limit`. */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

/** Commander collector for repeatable options (`--segment A --segment B`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
