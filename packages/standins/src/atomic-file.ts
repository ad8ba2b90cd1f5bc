import { randomBytes } from 'node:crypto';
import { link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `data` to `target` through a temporary file, so a reader never sees half a file: renamed
 * over the target (`replace`), or hard-linked to it only if it does not exist yet (create once;
 * false when it exists). The temporary file goes in `tmpDir` (same file system) or beside the
 * target, and is removed either way.
 */
export async function writeFileAtomically(
  target: string,
  data: string | Uint8Array,
  options: { replace: boolean; tmpDir?: string },
): Promise<boolean> {
  await mkdir(dirname(target), { recursive: true });
  if (options.tmpDir) await mkdir(options.tmpDir, { recursive: true });
  const name = `${randomBytes(8).toString('hex')}.tmp`;
  const tmp = options.tmpDir ? join(options.tmpDir, name) : `${target}.${name}`;
  await writeFile(tmp, data, { flag: 'wx' });
  try {
    if (options.replace) {
      await rename(tmp, target);
      return true;
    }
    try {
      await link(tmp, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  } finally {
    await rm(tmp, { force: true });
  }
}
