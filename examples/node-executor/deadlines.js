'use strict';
// The AbortSignal a handler gets as ctx.signal (host.js): aborted when the
// runner gives up on its call. grpc-js answers a unary call past its deadline
// (or cancelled by the caller) but goes on running its handler; a Session
// call carries its deadline as `timeout` (executor.proto), which nothing
// else enforces. The Python SDK cancels the handler's task in both cases.

const TIMEOUT = 'TimeoutError'; // as AbortSignal.timeout() names its reason
// setTimeout's longest delay (about 24.8 days); a deadline past it is none.
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Why a call was given up, told at time `Date.now()`: its deadline (`at`,
 * ms since the epoch) has passed, or its caller cancelled it. A cancel once
 * the deadline has passed is the deadline's: the caller's timer fired before
 * ours, for the same deadline. */
function givenUp(at = -Infinity) {
  return Date.now() >= at
    ? new DOMException('the call passed its deadline', TIMEOUT)
    : new DOMException('the caller cancelled the call', 'AbortError');
}

/** A signal aborted `ms` from now, or never (ms not finite or too far);
 * `done()` clears its timer once the call ended. */
function deadlineSignal(ms, controller = new AbortController()) {
  let timer;
  if (Number.isFinite(ms) && ms <= MAX_DELAY_MS) {
    timer = setTimeout(
      () => controller.abort(givenUp()),
      Math.max(ms, 0),
    );
  }
  return { signal: controller.signal, done: () => clearTimeout(timer) };
}

/** The signal of a unary call: aborted at its deadline or when the caller cancels it. */
function unarySignal(call) {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  const timed = deadlineSignal(at - Date.now(), controller);
  // grpc-js also reports a call it ended at its deadline as cancelled.
  const cancelled = () => controller.abort(givenUp(Number.isFinite(at) ? at : Infinity));
  call.once('cancelled', cancelled);
  return {
    signal: controller.signal,
    done: () => {
      timed.done();
      call.removeListener('cancelled', cancelled);
    },
  };
}

/** The signal of a Session call: aborted once its `timeout` (a Duration,
 * null when unset) has passed since it was read, or by `cancel()` (the runner
 * gave the call up: a `cancel` request, or the stream cancelled). */
function sessionSignal(timeout) {
  const controller = new AbortController();
  const ms = timeout ? Number(timeout.seconds) * 1000 + Number(timeout.nanos) / 1e6 : Infinity;
  const at = Date.now() + ms;
  const timed = deadlineSignal(ms, controller);
  const cancel = () => controller.abort(givenUp(at));
  return { signal: controller.signal, done: timed.done, cancel };
}

module.exports = { sessionSignal, unarySignal };
