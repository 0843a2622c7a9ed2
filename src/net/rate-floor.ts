/**
 * The low-speed limit of a download body (as curl's --speed-limit/--speed-time): a server that
 * trickles a few bytes now and then never trips the idle timeout, so without this floor a
 * download could take days. Over every window of `windowMs`, at least `minBytes` must arrive; a
 * window below that ends the attempt as a stall of kind "slow" (it counts against the download's
 * stall budget like a silent server, which bounds the total time).
 */

/** The error code of an attempt ended by the floor (download.ts counts it as a stall). */
export const TOO_SLOW = 'CAKE_TOO_SLOW';

export class RateFloor {
  private start: number;
  private bytes = 0;

  constructor(
    private readonly windowMs: number,
    private readonly minBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
  }

  /** Counts `n` bytes that arrived; throws (code TOO_SLOW) when a whole window brought fewer than the floor. */
  feed(n: number): void {
    this.bytes += n;
    const t = this.now();
    if (t - this.start < this.windowMs) return;
    if (this.bytes < this.minBytes) {
      throw Object.assign(new Error(`only ${this.bytes} bytes in ${Math.round((t - this.start) / 1000)} s`), { code: TOO_SLOW });
    }
    this.start = t;
    this.bytes = 0;
  }
}
