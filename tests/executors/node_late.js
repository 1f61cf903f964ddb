'use strict';
// `slow` in JavaScript, the twin of tests/executors/retrying.py's Slow: its
// state is outside the object, by run (as an executor backed by a database
// would keep it); a run's first call past superstep 1 works `seconds`
// (past its deadline) on a timer given ctx.signal, then writes. What that
// call was told (the signal's reason, and whether ctx still took an output)
// is yielded by the run's next call, which first waits for its end.

const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'node-executor');
const { runExecutors } = require(path.join(EXAMPLE, 'service'));

const ledgers = new Map(); // run id -> its ledger: the state
const slowCalls = new Map(); // run id -> the end of its slow call
const told = new Map(); // run id -> what its slow call was told

class Slow {
  static handlers = { Late: 'work' };
  static sends = ['Late'];
  static yields = ['object'];

  constructor() {
    this.runId = '';
  }

  async work(late, ctx) {
    const runId = (this.runId = ctx.runId);
    if (ctx.superstep === 1) {
      ledgers.set(runId, ['superstep 1']); // a first state to go back to
      ctx.sendMessage('Late', late);
      return;
    }
    if (!slowCalls.has(runId)) {
      let ended;
      slowCalls.set(runId, new Promise((resolve) => (ended = resolve)));
      try {
        await sleep(late.seconds * 1000, undefined, { signal: ctx.signal });
        ledgers.get(runId).push('late write of attempt 1');
      } catch (err) {
        const heard = [ctx.signal.reason?.name ?? String(err)];
        try {
          ctx.yieldOutput('object', { late: true });
          heard.push('output taken');
        } catch (refused) {
          heard.push(`output refused: ${refused.name}`);
        }
        told.set(runId, heard);
      } finally {
        ended();
      }
      return;
    }
    await slowCalls.get(runId);
    ledgers.get(runId).push(`attempt ${ctx.attempt}`);
    ctx.yieldOutput('object', { ledger: ledgers.get(runId), told: told.get(runId) ?? [] });
  }

  save() {
    return { ledger: ledgers.get(this.runId), run_id: this.runId };
  }

  restore(state) {
    this.runId = state.run_id;
    ledgers.set(this.runId, [...state.ledger]);
  }
}

runExecutors({ slow: Slow }).catch((err) => {
  console.error(`node late executor: ${err.message}`);
  process.exit(1);
});
