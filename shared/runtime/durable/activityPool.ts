/**
 * Runs queued activity work with bounded concurrency. Activities are mostly I/O (lake writes,
 * launching jobs), so a few dozen at once keep a machine busy without flooding it.
 */
export class ActivityPool<W> {
  private readonly queue: W[] = [];
  private running = 0;
  private readonly idle: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly concurrency: number,
    private readonly run: (work: W) => Promise<void>,
  ) {}

  enqueue(work: W): void {
    if (this.closed) return;
    this.queue.push(work);
    this.pump();
  }

  /** Drops what has not started; resolves when what runs has finished, or after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    if (this.running === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
    ]);
  }

  private pump(): void {
    while (!this.closed && this.running < this.concurrency && this.queue.length > 0) {
      const work = this.queue.shift() as W;
      this.running++;
      void this.run(work).finally(() => {
        this.running--;
        if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
        this.pump();
      });
    }
  }
}
