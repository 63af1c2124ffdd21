/**
 * A version counter that consumers wait on. Reading `version` before checking for data and then
 * waiting on that version means a notification that lands in between is never lost.
 */
export class Wakeup {
  private ver = 0;
  private waiters: Array<() => void> = [];

  get version(): number {
    return this.ver;
  }

  notify(): void {
    this.ver++;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves true once notified after `since`, false when `timeoutMs` passes first. */
  wait(since: number, timeoutMs: number | undefined): Promise<boolean> {
    if (this.ver !== since) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }
}
