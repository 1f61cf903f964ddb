'use strict';
// The Node twin of the Python SDK's stepline.NonRetryableError.

/**
 * Thrown by a handler for a failure no retry can fix (bad input, say): the
 * run fails at once, whatever the executor's retry policy (the error goes
 * out with ErrorInfo.non_retryable set). Subclass it to keep your own type
 * name in ErrorInfo.type.
 */
class NonRetryableError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

module.exports = { NonRetryableError };
