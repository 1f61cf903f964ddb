'use strict';
// The `stage` executor in JavaScript: the twin of tests/executors/stages.py
// `Stage`, so a Node stage can stand anywhere in a chain of Python ones and the
// run gives the same outputs and states. It counts and sums the tokens it sees
// and passes each on, transformed, until the token has made `limit` hops.
//
//   node stage.js [--port N] [--host H]
//
// With STEPLINE_TEST_LOG set, every save and restore appends a JSON line there
// ({"kind", "executor", "state"}), as the Python one does, so a test can check
// that restore received exactly what save returned.

const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const { PayloadError, runExecutors } = require('./service');

const MODULUS = 1_000_003n;

// A Token travels as the Python dataclass does: type name "Token", JSON
// {"delay_ms", "hops", "limit", "value"}; delay_ms may be left out.
function toToken(message) {
  if (!message || typeof message !== 'object' || Array.isArray(message)) {
    throw new PayloadError('Token: expected a JSON object');
  }
  const token = { delay_ms: 0, timer_ms: 0, ...message };
  for (const key of Object.keys(token)) {
    if (!['value', 'hops', 'limit', 'delay_ms', 'timer_ms'].includes(key)) {
      throw new PayloadError(`Token: unexpected field '${key}'`);
    }
  }
  for (const key of ['value', 'hops', 'limit', 'delay_ms', 'timer_ms']) {
    // Beyond 2^53 JSON.parse has already lost digits: refuse rather than compute wrong.
    if (!Number.isSafeInteger(token[key])) {
      throw new PayloadError(`Token: '${key}' must be an integer within ±2^53, got ${token[key]}`);
    }
  }
  return token;
}

function isIntegerList(value) {
  return Array.isArray(value) && value.every(Number.isSafeInteger);
}

function log(kind, executorId, state) {
  const file = process.env.STEPLINE_TEST_LOG;
  if (file) {
    // Synchronous, so the line is written before the RPC answers.
    fs.appendFileSync(file, `${JSON.stringify({ kind, executor: executorId, state })}\n`);
  }
}

class Stage {
  static handlers = { Token: 'onToken' };
  static sends = ['Token'];
  static yields = ['object'];

  constructor(executorId) {
    this.id = executorId;
    this.count = 0;
    this.total = 0;
    this.seen = [];
  }

  async onToken(message, ctx) {
    const token = toToken(message);
    if (token.delay_ms) await sleep(token.delay_ms); // stands for real work
    this.count += 1;
    this.total += token.value;
    if (!Number.isSafeInteger(this.total)) throw new RangeError('total exceeds 2^53');
    this.seen.push(token.hops);
    // As Python computes it: exact integers (BigInt), a floored modulo (never
    // negative), and the id's length in code points (Python's len).
    const raw = BigInt(token.value) * 31n + BigInt(this.count + [...ctx.executorId].length);
    const value = Number(((raw % MODULUS) + MODULUS) % MODULUS);
    if (token.hops + 1 >= token.limit) {
      ctx.yieldOutput('object', { value, by: ctx.executorId, total: this.total });
    } else {
      const next = { value, hops: token.hops + 1, limit: token.limit, delay_ms: token.delay_ms };
      if (token.timer_ms) {
        // Not in Python's Stage: the Node example's durable timer, each hop that much later.
        next.timer_ms = token.timer_ms;
        ctx.sendMessage('Token', next, '', { delayMs: token.timer_ms });
      } else {
        ctx.sendMessage('Token', next);
      }
    }
  }

  save() {
    const state = { count: this.count, total: this.total, seen: this.seen };
    log('save', this.id, state);
    return state;
  }

  restore(state) {
    log('restore', this.id, state);
    const { count, total, seen } = state;
    if (!Number.isSafeInteger(count) || !Number.isSafeInteger(total) || !isIntegerList(seen)) {
      throw new PayloadError('stage.state: expected {"count": int, "total": int, "seen": [int]}');
    }
    this.count = count;
    this.total = total;
    this.seen = [...seen];
  }
}

if (require.main === module) {
  // With the conformance reference type, so one service passes the whole suite.
  const { Reference } = require('./reference');
  runExecutors({ stage: Stage, reference: Reference }).catch((err) => {
    console.error(`stepline node executor: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { Stage };
