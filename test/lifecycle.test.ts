import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lifecycle } from '../src/lifecycle';

describe('lifecycle', () => {
  it('closes the parts newest first, each once the one before has finished', async () => {
    const lifecycle = new Lifecycle();
    const seen: string[] = [];
    for (const [name, delayMs] of [
      ['kinesis', 0],
      ['pool', 20],
      ['spool', 5],
      ['listener', 0],
    ] as const) {
      lifecycle.onClose(name, async () => {
        seen.push(`${name} begins`);
        await sleep(delayMs);
        seen.push(`${name} closed`);
      });
    }
    await lifecycle.close();
    assert.deepEqual(seen, [
      'listener begins',
      'listener closed',
      'spool begins',
      'spool closed',
      'pool begins',
      'pool closed',
      'kinesis begins',
      'kinesis closed',
    ]);
  });

  it('takes steps that return nothing', async () => {
    const lifecycle = new Lifecycle();
    const seen: string[] = [];
    lifecycle.onClose('a', () => void seen.push('a'));
    lifecycle.onClose('b', () => void seen.push('b'));
    await lifecycle.close();
    assert.deepEqual(seen, ['b', 'a']);
  });

  it('closes once however often it is asked, and resolves every caller when done', async () => {
    const lifecycle = new Lifecycle();
    let closes = 0;
    lifecycle.onClose('part', async () => {
      await sleep(5);
      closes++;
    });
    const first = lifecycle.close();
    const second = lifecycle.close();
    assert.equal(first, second);
    await Promise.all([first, second, lifecycle.close()]);
    assert.equal(closes, 1);
  });

  it('runs the other steps when one fails, then rejects naming each part that failed', async () => {
    const lifecycle = new Lifecycle();
    const seen: string[] = [];
    const diskGone = new Error('EIO: i/o error');
    const poolStuck = new Error('worker did not exit');
    lifecycle.onClose('kinesis', () => void seen.push('kinesis'));
    lifecycle.onClose('pool', async () => {
      throw poolStuck;
    });
    lifecycle.onClose('spool', () => {
      throw diskGone;
    });
    lifecycle.onClose('listener', () => void seen.push('listener'));
    await assert.rejects(lifecycle.close(), (err) => {
      assert.ok(err instanceof AggregateError);
      assert.deepEqual(err.errors, [diskGone, poolStuck]);
      assert.equal(err.message, 'cannot close spool (EIO: i/o error), pool (worker did not exit)');
      return true;
    });
    assert.deepEqual(seen, ['listener', 'kinesis']);
  });
});
