'use strict';
// The Session stream (executor.proto, "Faster paths"): Execute calls on one
// stream, each answered as it finishes, as the Python SDK's serve.py does;
// EndRun calls too (`end_run`, several runs' in one request), and cancels
// (`cancel`: the call's handler is aborted and sends no reply), which the
// stream's initial metadata says it takes.

const grpc = require('@grpc/grpc-js');
const { sessionSignal } = require('./deadlines');
const { StaleEpoch } = require('./fencing');
const { toStatus } = require('./host');
const { sessionSpan } = require('./spans');

// Execute calls one Session stream runs at once, as the Python SDK's
// MAX_SESSION_CALLS; as many more may wait, read, before the stream is paused.
const MAX_SESSION_CALLS = 256;
// What the stream's initial metadata says: it stops a call on a `cancel`.
const CANCELS = ['stepline-session-cancel', '1'];
// ... and how many calls it runs at once.
const CALLS = 'stepline-session-calls';
// A request's size on the wire, which service.js puts on it as it is read.
const WIRE_BYTES = Symbol('wire bytes');
// Bytes of the calls read that wait for a slot, past which the stream is
// paused (as the Python SDK's WAITING_BYTES; at least one call may wait).
const WAITING_BYTES = 64 * 1024 * 1024;

/** The Session stream: each Execute request answered, as it finishes, by the
 * reply with its call_id: the unary Execute's response, or its status. At most
 * `maxCalls` run at once; calls read past that wait their turn, in order, and
 * the stream is read on while fewer than `maxCalls` wait, so a cancel is still
 * read when every slot is taken by a call that will not end by itself: it
 * aborts its call, or drops it unstarted (as the Python SDK's). Past that, or
 * once those waiting hold WAITING_BYTES, the stream is paused (not read), and
 * HTTP/2 flow control holds the caller back, so a caller cannot make the
 * service hold calls without bound. */
function session(executorHost, call, maxCalls) {
  if (!executorHost.fastPath) {
    call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'this service serves unary calls' });
    return;
  }
  const pending = new Set();
  const waiting = []; // Execute requests read, waiting for a slot
  let waitingBytes = 0; // theirs
  const roomy = () => waiting.length < maxCalls && waitingBytes < WAITING_BYTES;
  const left = (request) => (waitingBytes -= request[WIRE_BYTES] ?? 0);
  const running = new Map(); // call id -> the call's cancel, while it runs
  let ended = false; // the caller closed its side
  let closed = false; // and this one too
  const said = new grpc.Metadata();
  said.set(...CANCELS);
  said.set(CALLS, String(maxCalls)); // the runner keeps no more in flight on it
  call.sendMetadata(said);
  const finish = () => {
    if (ended && !closed && !pending.size && !waiting.length) {
      closed = true;
      call.end();
    }
  };
  const next = () => {
    while (pending.size < maxCalls && waiting.length) {
      const request = waiting.shift();
      left(request);
      pending.add(start(request));
    }
    if (roomy()) call.resume();
    finish();
  };
  const start = (request) => {
    const id = String(request.call_id);
    const { signal, done: timed, cancel } = sessionSignal(request.timeout);
    let cancelled = false;
    running.set(id, () => {
      cancelled = true;
      cancel();
    });
    const execute = () => executorHost.execute(request.execute ?? {}, signal).finally(timed);
    const done = sessionSpan(request.trace_context, execute)
      .then(
        (execute) => ({ call_id: request.call_id, execute }),
        (err) => {
          const { code, details } = toStatus(err);
          // The ErrorInfo reason the unary status would carry (a stale epoch).
          const reason = err instanceof StaleEpoch ? 'STALE_EPOCH' : '';
          return { call_id: request.call_id, code, message: details, reason };
        },
      )
      .then((reply) => cancelled || call.write(reply))
      .finally(() => {
        running.delete(id);
        pending.delete(done);
        next();
      });
    return done;
  };
  call.on('data', (request) => {
    if (request.cancel) { // no reply: the call's own is dropped too
      const id = String(request.call_id);
      const at = waiting.findIndex((w) => String(w.call_id) === id); // fewer than maxCalls
      if (at >= 0) {
        left(waiting.splice(at, 1)[0]);
        if (roomy()) call.resume();
      } else running.get(id)?.();
      return;
    }
    if (request.end_run && request.end_run.length) { // never fails, as the unary EndRun
      const released = request.end_run.reduce((n, r) => n + executorHost.endRun(r).released, 0);
      call.write({ call_id: request.call_id, end_run: { released } });
      return;
    }
    waiting.push(request);
    waitingBytes += request[WIRE_BYTES] ?? 0;
    next();
    if (!roomy()) call.pause();
  });
  call.on('end', () => {
    ended = true;
    finish();
  });
  // The runner cancelled the stream (or went away): its calls stop, as a
  // cancelled unary call's handler does; nothing is left to answer.
  call.on('cancelled', () => {
    waiting.length = 0;
    waitingBytes = 0;
    running.forEach((stop) => stop());
  });
  call.on('error', () => {});
}

module.exports = { MAX_SESSION_CALLS, WAITING_BYTES, WIRE_BYTES, session };
