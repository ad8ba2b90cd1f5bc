import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Parent/child plumbing for the benchmark: every server under load runs in its own Node process
 * (started with tsx), announces itself with one `ready` message and then answers numbered commands
 * over the IPC channel. The parent stops only the children it started, by their handle.
 */
export interface ReadyMessage {
  type: 'ready';
  info: Record<string, unknown>;
}
interface CommandMessage {
  type: 'command';
  id: number;
  cmd: string;
  args: unknown;
}
interface ReplyMessage {
  type: 'reply';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
interface FailedMessage {
  type: 'failed';
  error: string;
}

export type Handlers = Record<string, (args: any) => unknown>;

/** In a child: announce readiness, then answer commands until told to close. */
export function serveCommands(info: Record<string, unknown>, handlers: Handlers): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('this script runs as a child of bench/run.ts (no IPC channel)');
  process.on('message', (raw: unknown) => {
    const msg = raw as CommandMessage;
    if (msg?.type !== 'command') return;
    const handler = handlers[msg.cmd];
    void (async () => {
      try {
        if (!handler) throw new Error(`unknown command ${msg.cmd}`);
        const result = await handler(msg.args);
        send({ type: 'reply', id: msg.id, ok: true, result } satisfies ReplyMessage);
      } catch (err) {
        send({
          type: 'reply',
          id: msg.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies ReplyMessage);
      }
    })();
  });
  // A parent that dies takes its children with it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', info } satisfies ReadyMessage);
}

/** In a child: report a start-up failure to the parent and exit. */
export function failStartup(err: unknown): never {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.send?.({ type: 'failed', error } satisfies FailedMessage);
  console.error(error);
  process.exit(1);
}

export class Child {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private exited = false;
  readonly exit: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly info: Record<string, unknown>,
  ) {
    this.exit = new Promise((resolve) => {
      proc.once('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${code})`));
        this.pending.clear();
        resolve(code);
      });
    });
    proc.on('message', (raw: unknown) => {
      const msg = raw as ReplyMessage;
      if (msg?.type !== 'reply') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /**
   * Forks `script` (a path relative to bench/) under tsx and waits for its `ready` message.
   * `nodeArgs` go to Node (e.g. `--expose-gc`); `env` is added to the parent's environment.
   */
  static async start(
    name: string,
    script: string,
    options: {
      env?: Record<string, string>;
      nodeArgs?: string[];
      timeoutMs?: number;
      quiet?: boolean;
    } = {},
  ): Promise<Child> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const proc = fork(path, [], {
      execArgv: ['--import', 'tsx', ...(options.nodeArgs ?? [])],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', options.quiet === false ? 'inherit' : 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    const timeoutMs = options.timeoutMs ?? 120_000;
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${name} did not start within ${timeoutMs} ms\n${stderr}`));
      }, timeoutMs);
      proc.on('message', (raw: unknown) => {
        const msg = raw as ReadyMessage | FailedMessage;
        if (msg?.type === 'ready') {
          clearTimeout(timer);
          resolve(msg.info);
        } else if (msg?.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`${name} failed to start: ${msg.error}`));
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) before it was ready\n${stderr}`));
      });
    });
    return new Child(name, proc, info);
  }

  call<T = unknown>(cmd: string, args?: unknown, timeoutMs = 300_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ type: 'command', id, cmd, args } satisfies CommandMessage);
    });
  }

  /** Asks the child to close (it runs its own clean-up), then kills it if it does not exit. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    await this.call('close', undefined, graceMs).catch(() => {});
    const exited = await Promise.race([
      this.exit.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
    ]);
    if (!exited && !this.exited) this.proc.kill('SIGKILL');
  }
}
