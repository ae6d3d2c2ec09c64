import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/**
 * One simulated ACI container: the container's `command` runs as a local process (no shell,
 * own process group) with only the container's environment variables plus a PATH that finds
 * this Node binary, the way an image's PATH would. stdout and stderr are merged into one log,
 * as ACI's `logs` endpoint returns them. When the main process exits, whatever is left of its
 * group is killed, as a container runtime tears the container down.
 */
export type ContainerPhase = 'Waiting' | 'Running' | 'Terminated';

export interface ContainerSnapshot {
  state: ContainerPhase;
  exitCode?: number;
  startTime?: string;
  finishTime?: string;
  detailStatus?: string;
}

export class ContainerProcess {
  private phase: ContainerPhase = 'Waiting';
  private child: ChildProcess | undefined;
  private output = '';
  private exitCode: number | undefined;
  private startTime: string | undefined;
  private finishTime: string | undefined;
  private detail: string | undefined;
  private readonly finished: Promise<void>;
  private markFinished: () => void = () => undefined;

  constructor(
    private readonly argv: readonly string[],
    private readonly env: Readonly<Record<string, string>>,
  ) {
    this.finished = new Promise((resolve) => {
      this.markFinished = resolve;
    });
  }

  /** Starts the process; resolves once it is running or has failed to start. */
  async start(): Promise<void> {
    if (this.phase !== 'Waiting') return;
    const [file, ...args] = this.argv;
    if (file === undefined || file === '') {
      this.terminate(127, 'Error: no command');
      return;
    }
    const bin = path.dirname(process.execPath);
    const child = spawn(file, args, {
      env: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, HOME: os.tmpdir(), ...this.env },
      cwd: os.tmpdir(),
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.on('exit', () => this.killGroup('SIGKILL'));
    child.on('close', (code, signal) => {
      const exit = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
      this.terminate(exit, signal ? `Killed (${signal})` : 'Completed');
    });
    await new Promise<void>((resolve) => {
      child.once('spawn', () => {
        this.phase = 'Running';
        this.startTime = new Date().toISOString();
        resolve();
      });
      child.once('error', (error) => {
        this.output += `failed to start: ${error.message}\n`;
        this.terminate(127, `Error: ${error.message}`);
        resolve();
      });
    });
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the container is terminated. */
  async stop(graceMs: number): Promise<void> {
    if (this.phase === 'Waiting') {
      this.terminate(undefined, 'Stopped before start');
      return;
    }
    if (this.phase === 'Terminated') return;
    this.killGroup('SIGTERM');
    const timer = setTimeout(() => this.killGroup('SIGKILL'), graceMs);
    await this.finished;
    clearTimeout(timer);
  }

  get isLive(): boolean {
    return this.phase !== 'Terminated';
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  snapshot(): ContainerSnapshot {
    const out: ContainerSnapshot = { state: this.phase };
    if (this.exitCode !== undefined) out.exitCode = this.exitCode;
    if (this.startTime !== undefined) out.startTime = this.startTime;
    if (this.finishTime !== undefined) out.finishTime = this.finishTime;
    if (this.detail !== undefined) out.detailStatus = this.detail;
    return out;
  }

  /** The last `tail` lines (all of them without `tail`), a trailing newline kept. */
  logs(tail?: number): string {
    if (tail === undefined) return this.output;
    if (tail <= 0) return '';
    const trailing = this.output.endsWith('\n');
    const lines = (trailing ? this.output.slice(0, -1) : this.output).split('\n');
    const kept = lines.slice(-tail).join('\n');
    return trailing ? `${kept}\n` : kept;
  }

  private terminate(exitCode: number | undefined, detail: string): void {
    if (this.phase === 'Terminated') return;
    this.phase = 'Terminated';
    if (exitCode !== undefined) this.exitCode = exitCode;
    this.finishTime = new Date().toISOString();
    this.detail = detail;
    this.markFinished();
  }

  private killGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}
