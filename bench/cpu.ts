// CPU accounting from /proc: a server process, its main thread (the event loop answering
// requests), its other threads (shipping workers, garbage collector, libuv), the local Kinesis
// process (a child of the gateway, or a process of its own), and the whole machine.

import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks on every Linux the project runs on. */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime of /proc/<path>/stat, in seconds; undefined once the process or thread is gone. */
function statSeconds(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${path}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

function parentOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(') ') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Direct children of pid: /proc/<pid>/task/<tid>/children where the kernel has it, else a scan of /proc. */
function childrenOf(pid: number): number[] {
  try {
    const found: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      found.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
    return found;
  } catch {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((p) => parentOf(p) === pid);
  }
}

/** pid's child processes, their children, and so on. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  for (let queue = childrenOf(pid); queue.length > 0; ) {
    const next = queue.shift()!;
    found.push(next);
    queue = queue.concat(childrenOf(next));
  }
  return found;
}

/** Busy and total CPU seconds of the whole machine, all cores. */
function machineSeconds(): { busy: number; total: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = ticks[3] + ticks[4]; // idle + iowait
  return { busy: (total - idle) / CLOCK_TICKS_PER_S, total: total / CLOCK_TICKS_PER_S };
}

/** CPU seconds spent during a window, by where they went. */
export interface CpuSplit {
  /** The server's main thread. */
  readonly mainThreadS: number;
  /** The server process's other threads: the gateway's shipping workers, GC and libuv threads. */
  readonly otherThreadsS: number;
  /** The local Kinesis process(es) the server ships to. */
  readonly localKinesisS: number;
  /** Every process, all cores, and the machine's capacity over the window. */
  readonly machineBusyS: number;
  readonly machineTotalS: number;
}

interface Sample {
  process: number;
  mainThread: number;
  kinesis: Map<number, number | undefined>;
  machine: { busy: number; total: number };
}

function sample(pid: number, kinesisPids: readonly number[]): Sample {
  return {
    process: statSeconds(String(pid)) ?? 0,
    mainThread: statSeconds(`${pid}/task/${pid}`) ?? 0,
    kinesis: new Map(kinesisPids.map((p) => [p, statSeconds(String(p))])),
    machine: machineSeconds(),
  };
}

/**
 * Starts counting for a server process and the local Kinesis processes named now; stop() returns
 * what each spent since. A local Kinesis process that exits during the window counts nothing (its
 * last figures are gone with it).
 */
export function startCpuMeter(pid: number, kinesisPids: readonly number[]): { stop(): CpuSplit } {
  const before = sample(pid, kinesisPids);
  return {
    stop() {
      const after = sample(pid, kinesisPids);
      const mainThreadS = after.mainThread - before.mainThread;
      let localKinesisS = 0;
      for (const [p, seconds] of before.kinesis) {
        if (seconds !== undefined) localKinesisS += Math.max(0, (after.kinesis.get(p) ?? seconds) - seconds);
      }
      return {
        mainThreadS,
        otherThreadsS: Math.max(0, after.process - before.process - mainThreadS),
        localKinesisS,
        machineBusyS: after.machine.busy - before.machine.busy,
        machineTotalS: after.machine.total - before.machine.total,
      };
    },
  };
}
