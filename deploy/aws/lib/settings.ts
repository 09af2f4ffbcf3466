// deploy/settings.json: the values every artefact of deploy/ must agree on (the image's flags, the
// timing chain between the load balancer and the gateway). Read, not copied, so that they cannot drift.

import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Settings {
  gateway: {
    publicPort: number;
    adminPort: number;
    uid: number;
    spoolDir: string;
    deadLetterDir: string;
    /** The image's CMD: serve with the flags for a gateway behind an ELB. */
    args: string[];
  };
  /** What deploy/image/install.sh leaves behind, as docs/deploying.md states it and deploy/check-image.sh measures it. */
  image: { installMiB: number; installToleranceMiB: number };
  timing: {
    uwsIdleCloseSeconds: Record<'official' | 'legacy', { version: string; min: number; max: number }>;
    idleMarginSeconds: number;
    albIdleTimeoutSeconds: number;
    legacyAlbIdleTimeoutSeconds: number;
    healthCheck: { path: string; intervalSeconds: number; timeoutSeconds: number; healthyThreshold: number; unhealthyThreshold: number };
    drainDelayMs: number;
    deregistrationDelaySeconds: number;
    shutdownTimeoutMs: number;
    ecsStopTimeoutSeconds: number;
    preStopSleepSeconds: number;
    terminationGracePeriodSeconds: number;
  };
}

/** deploy/settings.json, from dist/lib/ (compiled) or lib/ (sources). */
export const SETTINGS_FILE = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..', 'settings.json');

export const settings: Settings = JSON.parse(readFileSync(SETTINGS_FILE, 'utf8'));
