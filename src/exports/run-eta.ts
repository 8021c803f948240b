/**
 * A run's seconds left, for its progress bar, from what the run has seen so far: how fast it
 * plans its members, and how long SendGrid takes to settle a job once it acknowledged the
 * request. Jobs settle side by side, not one after another, so what is left once everything is
 * sent is the wait on the open jobs, not their contacts at some pace: the last request's job is
 * expected to take as long as the settled ones took on average. Before any settled, as long as
 * the export's recent jobs took (`priorJobMs`, from earlier runs), or at least as long as the
 * oldest open one has waited so far.
 */
export class RunEta {
  constructor(private readonly priorJobMs: number | undefined) {}

  /** Open jobs: when each was acknowledged (epoch ms), by batch seq. */
  private readonly open = new Map<number, number>();
  private settledCount = 0;
  private settledTotalMs = 0;

  /** A request was acknowledged (or found acknowledged by a resumed run) at `atMs`. */
  acknowledged(seq: number, atMs: number): void {
    if (!this.open.has(seq)) this.open.set(seq, atMs);
  }

  /** A job ended at `atMs`. */
  settled(seq: number, atMs: number): void {
    const since = this.open.get(seq);
    if (since === undefined) return;
    this.open.delete(seq);
    this.settledCount += 1;
    this.settledTotalMs += atMs - since;
  }

  /**
   * Seconds left at `nowMs`, when `planning.left` members are left to plan, planned so far at
   * `planning.perSecond`; undefined when there is no telling (nothing left to wait on that this
   * knows of, or the open jobs are overdue).
   */
  secondsLeft(nowMs: number, planning: { left: number; perSecond: number }): number | undefined {
    const jobMs = this.expectedJobMs(nowMs);
    if (planning.left > 0) {
      if (planning.perSecond <= 0) return undefined;
      // The requests still to send, then the last one's job.
      return planning.left / planning.perSecond + (jobMs ?? 0) / 1000;
    }
    if (jobMs === undefined || this.open.size === 0) return undefined;
    let longest = 0;
    for (const since of this.open.values()) {
      longest = Math.max(longest, jobMs - (nowMs - since));
    }
    return longest > 0 ? longest / 1000 : undefined;
  }

  /** How long a job takes from acknowledgement to its end, as far as seen; undefined: no idea. */
  private expectedJobMs(nowMs: number): number | undefined {
    if (this.settledCount > 0) return this.settledTotalMs / this.settledCount;
    let oldest: number | undefined;
    for (const since of this.open.values()) oldest = Math.min(oldest ?? since, since);
    const waited = oldest === undefined ? undefined : nowMs - oldest;
    if (this.priorJobMs === undefined) return waited;
    return Math.max(this.priorJobMs, waited ?? 0);
  }
}
