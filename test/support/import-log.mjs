import { register } from 'node:module';

/** `node --import` this file to record every module the process resolves (see import-log-hooks). */
register('./import-log-hooks.mjs', import.meta.url);
