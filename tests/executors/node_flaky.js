'use strict';
// `flaky` in JavaScript, the twin of tests/executors/retrying.py's Flaky: it
// fails a Job's first `fails` attempts, with a NonRetryableError when the job
// says so, else with an Error of the job's type name.

const path = require('node:path');

const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'node-executor');
const { NonRetryableError, runExecutors } = require(path.join(EXAMPLE, 'service'));

class Flaky {
  static handlers = { Job: 'work' };
  static yields = ['object'];

  constructor() {
    this.attempts = [];
  }

  async work(job, ctx) {
    this.attempts.push(ctx.attempt);
    if (ctx.attempt <= job.fails) {
      if (job.error === 'NonRetryableError') {
        throw new NonRetryableError(`attempt ${ctx.attempt}: no retry fixes this`);
      }
      const error = new Error(`attempt ${ctx.attempt} failed`);
      error.name = job.error;
      throw error;
    }
    ctx.yieldOutput('object', { by: 'node-flaky', attempt: ctx.attempt });
  }

  save() {
    return { attempts: this.attempts };
  }

  restore(state) {
    this.attempts = [...state.attempts];
  }
}

runExecutors({ flaky: Flaky }).catch((err) => {
  console.error(`node flaky executor: ${err.message}`);
  process.exit(1);
});
