'use strict';
// Epoch fencing, as the Python SDK's sdk/stepline/fencing.py: the highest
// epoch seen per run; a call with a lower one is refused with
// FAILED_PRECONDITION and a google.rpc.ErrorInfo (reason STALE_EPOCH) in the
// status details, so a runner that another one superseded cannot change the
// run's executor state. Epoch 0 (unset) is a caller that does not fence: it
// is served and leaves the fence alone. A run's fence outlives its EndRun,
// for the ENDED_RUNS most recently ended runs.

const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

const ENDED_RUNS = 65536;
const DOMAIN = 'stepline.dev';
const STALE_EPOCH = 'STALE_EPOCH';

// google.rpc.Status and ErrorInfo, the two messages of the status details.
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
            ErrorInfo: {
              fields: {
                reason: { type: 'string', id: 1 },
                domain: { type: 'string', id: 2 },
                metadata: { keyType: 'string', type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
});
const Status = rpc.lookupType('google.rpc.Status');
const ErrorInfo = rpc.lookupType('google.rpc.ErrorInfo');

/** A call for a run with an older epoch than the service has seen for it. */
class StaleEpoch extends Error {
  constructor(runId, epoch, seen) {
    super(
      `run '${runId.slice(0, 128)}': epoch ${epoch} is older than epoch ${seen}, which this ` +
        'service has seen for the run: another runner took the run over, so this caller ' +
        'must stop driving it',
    );
    this.name = 'StaleEpoch';
    this.code = grpc.status.FAILED_PRECONDITION;
    this.metadata = statusDetails(this.code, this.message, STALE_EPOCH, {
      run_id: runId.slice(0, 128),
      epoch: String(epoch),
      seen_epoch: String(seen),
    });
  }
}

/** Trailing metadata carrying a google.rpc.Status with an ErrorInfo. */
function statusDetails(code, message, reason, metadata) {
  const info = ErrorInfo.encode({ reason, domain: DOMAIN, metadata }).finish();
  const status = Status.encode({
    code,
    message,
    details: [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: info }],
  }).finish();
  const trailers = new grpc.Metadata();
  trailers.set('grpc-status-details-bin', Buffer.from(status));
  return trailers;
}

class EpochFence {
  constructor(endedRuns = ENDED_RUNS) {
    this.live = new Map(); // run_id -> highest epoch seen
    this.ended = new Map(); // the same for ended runs, oldest first
    this.endedRuns = endedRuns;
  }

  /** Let a call with `epoch` through, raising the run's fence; throws StaleEpoch. */
  admit(runId, epoch) {
    const e = Number(epoch);
    if (!(e > 0)) return;
    const seen = this.seen(runId);
    if (e < seen) throw new StaleEpoch(runId, e, seen);
    if (e > seen) {
      this.ended.delete(runId);
      this.live.set(runId, e);
    }
  }

  seen(runId) {
    return this.live.get(runId) ?? this.ended.get(runId) ?? 0;
  }

  /** The run ended (EndRun with `epoch`): false if the epoch is stale. */
  end(runId, epoch) {
    try {
      this.admit(runId, epoch);
    } catch (err) {
      if (err instanceof StaleEpoch) return false;
      throw err;
    }
    const seen = this.live.get(runId);
    this.live.delete(runId);
    if (seen) {
      this.ended.delete(runId);
      this.ended.set(runId, seen);
      while (this.ended.size > this.endedRuns) this.ended.delete(this.ended.keys().next().value);
    }
    return true;
  }
}

module.exports = { ENDED_RUNS, EpochFence, StaleEpoch };
