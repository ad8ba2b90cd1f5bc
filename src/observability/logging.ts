import { pino } from 'pino';
import type { Logger } from '../logger.js';
import { requestLogFields } from './request-context.js';

/**
 * The gateway's logger: the same JSON logs and redactions as `src/logger.ts`, plus the request's
 * id, viewer id and operation name on every line written while a request is handled (also from
 * services and stores that log through the process-wide logger). Tokens and message contents are
 * never logged: nothing logs headers or variables, and the usual suspects are redacted anyway.
 */
export function createGatewayLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'falsafa-gateway', ...bindings },
    mixin: requestLogFields,
    redact: {
      paths: [
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        'token',
        '*.token',
        'content',
        '*.content',
        'variables',
        '*.variables',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
