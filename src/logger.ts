/** Structured JSON logs. Tokens and message contents are never logged. */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'falsafa-gateway', ...bindings },
    redact: {
      paths: ['authorization', 'req.headers.authorization', '*.token', '*.content', 'content'],
      censor: '[redacted]',
    },
  });
}
