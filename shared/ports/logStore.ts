/**
 * Per-run, per-step log lines (what `baton logs` shows). Locally append-only files; in Azure,
 * append blobs in the run's databank.
 */
export interface LogLine {
  /** ISO 8601 */
  at: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export interface LogStore {
  append(runId: string, step: string, lines: LogLine[]): Promise<void>;
  /** Lines of one step, or of every step (each prefixed by step in `steps` order) when omitted. */
  read(
    runId: string,
    options?: { step?: string; tail?: number },
  ): Promise<Array<LogLine & { step: string }>>;
  steps(runId: string): Promise<string[]>;
}
