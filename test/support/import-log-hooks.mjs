import { appendFileSync } from 'node:fs';

/** Module loader hook: appends every resolved module URL to the file named by IMPORT_LOG. */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (process.env.IMPORT_LOG) appendFileSync(process.env.IMPORT_LOG, `${resolved.url}\n`);
  return resolved;
}
