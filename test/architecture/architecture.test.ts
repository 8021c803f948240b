import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkArchitecture, moduleOf } from './rules.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('architecture', () => {
  it('src/ keeps every dependency rule of ARCHITECTURE.md', () => {
    expect(checkArchitecture(path.join(root, 'src'))).toEqual([]);
  });

  it('catches each kind of broken rule in a fixture', () => {
    const violations = checkArchitecture(path.join(root, 'test/fixtures/architecture-broken/src'));
    const found = violations.map((v) => `${v.file} ${v.rule}`).sort();
    expect(found).toEqual(
      [
        'destinations/sendgrid/client.ts dependency-direction', // a plugin reaching into the domain
        'destinations/sendgrid/client.ts plugin-packages', // axios in a destination
        'exports/plan.ts kysely-in-stores', // SQL outside a store
        'profiles/import.ts dependency-direction', // the domain importing HTTP
        'profiles/service.ts dependency-direction', // the domain importing the composition root
        'reports/report.ts known-module', // a module nobody placed on the map
        'segments/rules.ts config-only-env', // reading the environment outside config.ts
        'shared/ids.ts dependency-direction', // the kernel importing the domain
      ].sort(),
    );
  });

  it('names modules by their top folder, and destinations by their part', () => {
    expect(moduleOf('config.ts')).toBe('config');
    expect(moduleOf('exports/runner/batch.ts')).toBe('exports');
    expect(moduleOf('destinations/destination.ts')).toBe('destinations/destination');
    expect(moduleOf('destinations/sendgrid/client.ts')).toBe('destinations/sendgrid');
  });
});
