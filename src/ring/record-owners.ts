// Who is waiting on which ring records (a request held for ?ack=stream, a spool segment), by record
// sequence number. When a batch is settled (confirmed or given up), each owner learns how many of
// its records it held, and how many of those were given up. Records are assigned in the order they
// are written, so the runs stay sorted; batches may settle in any order.

interface Run<T> {
  readonly from: number;
  to: number;
  readonly owner: T;
  settled: number;
}

export type ShareListener<T> = (owner: T, settled: number, givenUp: number) => void;

export class RecordOwners<T> {
  private runs: Run<T>[] = [];
  private front = 0;

  constructor(private readonly onShare: ShareListener<T>) {}

  /** Records [from, from + count) belong to owner; `from` must not be below any earlier assignment. */
  assign(from: number, count: number, owner: T): void {
    if (count === 0) return;
    const last = this.runs[this.runs.length - 1];
    if (this.runs.length > this.front && last.owner === owner && last.to === from) {
      last.to += count;
      return;
    }
    this.runs.push({ from, to: from + count, owner, settled: 0 });
  }

  /** Records [first, first + count) are settled; `givenUp` lists the sequence numbers among them that were dead-lettered. */
  settle(first: number, count: number, givenUp: readonly number[]): void {
    const end = first + count;
    for (let i = this.firstEndingAfter(first); i < this.runs.length && this.runs[i].from < end; i++) {
      const run = this.runs[i];
      const from = Math.max(run.from, first);
      const to = Math.min(run.to, end);
      let lost = 0;
      for (const seq of givenUp) if (seq >= from && seq < to) lost++;
      run.settled += to - from;
      this.onShare(run.owner, to - from, lost);
    }
    while (this.front < this.runs.length && this.runs[this.front].settled === this.runs[this.front].to - this.runs[this.front].from) this.front++;
    if (this.front > 1024 && this.front * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.front);
      this.front = 0;
    }
  }

  private firstEndingAfter(seq: number): number {
    let low = this.front;
    let high = this.runs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.runs[mid].to <= seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
