import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The dependency rules of ARCHITECTURE.md as data, and a checker that reads every import under a
 * `src/` folder. A module is a top-level folder of src/ (or a top-level file, or one of the
 * destinations' parts); `allowed` lists the modules it may import besides itself.
 */
const domain = ['profiles', 'segments', 'connections', 'auth', 'audit', 'exports'];

export const allowedImports: Record<string, readonly string[]> = {
  shared: [],
  config: ['shared'],
  db: ['shared', 'config'],
  audit: ['shared', 'db'],
  auth: ['shared', 'db', 'audit'],
  profiles: ['shared', 'db', 'audit'],
  segments: ['shared', 'db', 'profiles', 'audit'],
  connections: [
    'shared',
    'db',
    'auth',
    'audit',
    'destinations/destination',
    'destinations/registry',
  ],
  exports: [
    'shared',
    'db',
    'profiles',
    'segments',
    'connections',
    'auth',
    'audit',
    'destinations/destination',
    'destinations/registry',
  ],
  'destinations/destination': ['shared'],
  'destinations/sendgrid': ['shared', 'destinations/destination'],
  'destinations/registry': ['shared', 'destinations/destination', 'destinations/sendgrid'],
  sandbox: ['shared'],
  app: [
    'shared',
    'config',
    'db',
    ...domain,
    'destinations/destination',
    'destinations/registry',
    'sandbox',
    'scheduler',
  ],
  scheduler: ['shared', 'config', 'db', ...domain, 'app'],
  api: [
    'shared',
    'config',
    ...domain,
    'destinations/destination',
    'destinations/registry',
    'app',
    'sandbox',
  ],
  cli: [
    'shared',
    'config',
    'db',
    ...domain,
    'destinations/destination',
    'destinations/registry',
    'app',
    'sandbox',
    'api',
    'scheduler',
  ],
  web: [],
};

/** Packages a module may use, where the architecture restricts them. */
const allowedPackages: Record<string, (pkg: string) => boolean> = {
  'destinations/sendgrid': (pkg) => pkg === 'zod' || pkg.startsWith('node:'),
  'destinations/destination': (pkg) => pkg === 'zod' || pkg.startsWith('node:'),
  shared: (pkg) => pkg !== 'kysely',
};

export interface Violation {
  file: string;
  rule: string;
  detail: string;
}

/** The module a file under src/ belongs to, from its path relative to src/ (posix separators). */
export function moduleOf(relativePath: string): string {
  const parts = relativePath.split('/');
  const [top] = parts;
  if (parts.length === 1) return (top ?? '').replace(/\.tsx?$/, '');
  if (top === 'destinations') {
    const second = parts[1] ?? '';
    return parts.length === 2
      ? `destinations/${second.replace(/\.tsx?$/, '')}`
      : `destinations/${second}`;
  }
  return top ?? '';
}

/** Whether a file may import kysely: db/, store files, and the segments' SQL compiler. */
function mayImportKysely(relativePath: string): boolean {
  const base = path.posix.basename(relativePath);
  return (
    relativePath.startsWith('db/') ||
    /(^|[-.])store\.ts$/.test(base) ||
    (relativePath.startsWith('segments/') && /^(compile|sql)/.test(base))
  );
}

function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSourceFiles(full));
    else if (
      /\.tsx?$/.test(entry.name) &&
      !/\.test\.tsx?$/.test(entry.name) &&
      !entry.name.endsWith('.d.ts')
    ) {
      out.push(full);
    }
  }
  return out;
}

/** Checks every non-test source file under `srcDir` against the rules; returns what is broken. */
export function checkArchitecture(srcDir: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of listSourceFiles(srcDir)) {
    const relative = path.relative(srcDir, file).split(path.sep).join('/');
    const from = moduleOf(relative);
    const text = fs.readFileSync(file, 'utf8');
    const allowed = allowedImports[from];
    if (!allowed) {
      violations.push({
        file: relative,
        rule: 'known-module',
        detail: `module "${from}" is not in the architecture table`,
      });
      continue;
    }
    if (from !== 'config' && /\bprocess\.env\b/.test(text)) {
      violations.push({
        file: relative,
        rule: 'config-only-env',
        detail: 'reads process.env; only src/config.ts may',
      });
    }
    for (const specifier of ts
      .preProcessFile(text, true, true)
      .importedFiles.map((f) => f.fileName)) {
      if (specifier.startsWith('.')) {
        const target = path.posix.normalize(
          path.posix.join(path.posix.dirname(relative), specifier),
        );
        if (target.startsWith('..')) {
          violations.push({
            file: relative,
            rule: 'inside-src',
            detail: `imports ${specifier} from outside src/`,
          });
          continue;
        }
        const to = moduleOf(target.replace(/\.js$/, '.ts'));
        if (to !== from && !allowed.includes(to)) {
          violations.push({
            file: relative,
            rule: 'dependency-direction',
            detail: `${from} must not import ${to} (${specifier})`,
          });
        }
      } else {
        const pkg = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : (specifier.split('/')[0] ?? specifier);
        if (pkg === 'kysely' && !mayImportKysely(relative)) {
          violations.push({
            file: relative,
            rule: 'kysely-in-stores',
            detail: 'imports kysely; only db/, store files and segments SQL compilation may',
          });
        }
        const packageRule = allowedPackages[from];
        if (packageRule && !packageRule(pkg)) {
          violations.push({
            file: relative,
            rule: 'plugin-packages',
            detail: `${from} must not use the package ${pkg}`,
          });
        }
      }
    }
  }
  return violations;
}
