#!/usr/bin/env node
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli.ts');
const [command = 'stack', ...rest] = process.argv.slice(2);
await run(command, rest);
