// The gateway's lifecycle as the load balancer and clients see it.

export type Phase = 'starting' | 'ready' | 'draining' | 'closed';

export class Readiness {
  phase: Phase = 'starting';

  get ready(): boolean {
    return this.phase === 'ready';
  }

  /** Events are taken while ready and during the drain delay, not before the stream is confirmed or after the listener closed. */
  get acceptingEvents(): boolean {
    return this.phase === 'ready' || this.phase === 'draining';
  }
}
