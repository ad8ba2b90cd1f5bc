import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` on the Node the project declares: every package the lockfile installs accepts that
 * Node (the lowest version `engines` allows, and the one running), so npm prints no EBADENGINE.
 */

const require = createRequire(import.meta.url);
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

describe('installed packages and the declared Node', () => {
  it('every locked package supports the lowest declared Node and the running one', async () => {
    const root = new URL('..', import.meta.url);
    const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as {
      engines: { node: string };
    };
    const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as Lock;
    const lowest = semver.minVersion(pkg.engines.node)!.version;
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || !range) continue;
      for (const node of [lowest, process.versions.node]) {
        if (!semver.satisfies(node, range)) {
          refused.push(`${path}@${entry.version} wants node ${range} (not ${node})`);
        }
      }
    }
    expect(refused).toEqual([]);
  });
});
