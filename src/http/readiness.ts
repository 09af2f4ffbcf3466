// The gateway's lifecycle as the load balancer and clients see it.

export type Phase = 'starting' | 'ready' | 'draining' | 'closed';

export class Readiness {
  phase: Phase = 'starting';

  /** `overHighWater` says whether the buffer is too full to take more traffic gladly. */
  constructor(private readonly overHighWater: () => boolean = () => false) {}

  get ready(): boolean {
    return this.notReadyBecause === undefined;
  }

  /** Why the load balancer should send traffic elsewhere now, if it should. */
  get notReadyBecause(): string | undefined {
    if (this.phase !== 'ready') return `the gateway is ${this.phase}`;
    if (this.overHighWater()) return 'the gateway buffer is over its high-water mark (Kinesis is not keeping up)';
    return undefined;
  }

  /** Events are taken while ready and during the drain delay, not before the stream is confirmed or after the listener closed. */
  get acceptingEvents(): boolean {
    return this.phase === 'ready' || this.phase === 'draining';
  }
}
