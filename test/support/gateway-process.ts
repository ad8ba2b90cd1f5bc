import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** `node --import tsx src/main.ts` (or another command) as a child process, with its output kept. */
export interface GatewayProcess {
  proc: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** The JSON log lines of stdout. */
  lines(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The GraphQL URL once the gateway listens; rejects if it exits first or takes too long. */
  listening(timeoutMs?: number): Promise<string>;
}

export function spawnGateway(
  env: Record<string, string>,
  command: [string, string[]] = [process.execPath, ['--import', 'tsx', 'src/main.ts']],
): GatewayProcess {
  const proc = spawn(command[0], command[1], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = () =>
    out.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const listening = (timeoutMs = 60_000) =>
    Promise.race([
      (async () => {
        const until = Date.now() + timeoutMs;
        while (!gone && Date.now() < until) {
          const line = lines().find((l) => l.msg === 'gateway listening');
          if (line) return String(line.url);
          await sleep(50);
        }
        return new Promise<string>(() => {});
      })(),
      exited.then(({ code }) => {
        throw new Error(`the gateway exited (${code}) before listening: ${err.slice(-2000)}`);
      }),
      sleep(timeoutMs).then(() => {
        throw new Error(`the gateway did not start: ${err.slice(-2000)}`);
      }),
    ]);
  return { proc, stdout: () => out, stderr: () => err, lines, exited, listening };
}
