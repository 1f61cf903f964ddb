'use strict';
// Epoch fencing, as the Python SDK's sdk/stepline/fencing.py: the highest
// epoch seen per run; a call with a lower one is refused with
// FAILED_PRECONDITION and a google.rpc.ErrorInfo (reason STALE_EPOCH) in the
// status details, so a runner that another one superseded cannot change the
// run's executor state. Epoch 0 (unset) is a caller that does not fence: it
// is served and leaves the fence alone. A run's fence outlives its EndRun,
// for the ENDED_RUNS most recently ended runs. At most LIVE_RUNS runs are kept
// un-ended (their EndRun may never come): over that, the run called least
// recently is forgotten, its objects released (onForget), and it is refused at
// every epoch up to the last it saw, that one included (ForgottenRun), until
// a resume calls at a new epoch (restoring its executors first).

const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

const ENDED_RUNS = 65536;
const LIVE_RUNS = 65536;
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
  constructor(runId, epoch, seen, message) {
    super(
      message ??
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

/** A call for a run forgotten (with its objects) while live, at an epoch no later than its last. */
class ForgottenRun extends StaleEpoch {
  constructor(runId, epoch, seen, liveRuns) {
    super(
      runId,
      epoch,
      seen,
      `run '${runId.slice(0, 128)}': this service forgot the run at epoch ${seen} and released ` +
        `its executor objects (it keeps ${liveRuns} runs without EndRun, and was called for ` +
        `that many others since), so epoch ${epoch} is refused: resume the run from its last ` +
        'checkpoint (at a new epoch, which restores its executors)',
    );
    this.name = 'ForgottenRun';
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
  constructor({ endedRuns = ENDED_RUNS, liveRuns = LIVE_RUNS, onForget = () => {} } = {}) {
    this.live = new Map(); // run_id -> highest epoch seen, least recently called first
    this.ended = new Map(); // run_id -> { seen, forgotten } of ended or forgotten runs, oldest first
    this.endedRuns = endedRuns;
    this.liveRuns = liveRuns;
    this.onForget = onForget;
  }

  /** Let a call with `epoch` through, raising the run's fence; throws StaleEpoch. */
  admit(runId, epoch) {
    const e = Number(epoch);
    if (!(e > 0)) return;
    const live = this.live.get(runId);
    if (live !== undefined) {
      if (e < live) throw new StaleEpoch(runId, e, live);
      this.live.delete(runId); // to the end: called most recently
      this.live.set(runId, Math.max(e, live));
      return;
    }
    const { seen, forgotten } = this.ended.get(runId) ?? { seen: 0, forgotten: false };
    if (forgotten && e <= seen) throw new ForgottenRun(runId, e, seen, this.liveRuns);
    if (e < seen) throw new StaleEpoch(runId, e, seen);
    if (e === seen) return; // an ended run at its last epoch: still ended
    this.ended.delete(runId);
    this.live.set(runId, e);
    while (this.live.size > this.liveRuns) {
      const [oldest, last] = this.live.entries().next().value;
      this.live.delete(oldest);
      this._close(oldest, last, true);
      this.onForget(oldest);
    }
  }

  seen(runId) {
    return this.live.get(runId) ?? this.ended.get(runId)?.seen ?? 0;
  }

  /**
   * The run ended (EndRun with `epoch`): false if the epoch is stale, and the
   * run's objects must stay. A run not live here is recorded as ended, never
   * admitted as live: that could push a live run out (forgotten, its objects
   * released) for an EndRun of a run made up or long gone.
   */
  end(runId, epoch) {
    const e = Number(epoch);
    if (e > 0 && !this.live.has(runId)) {
      const { seen, forgotten } = this.ended.get(runId) ?? { seen: 0, forgotten: false };
      if (e < seen || (forgotten && e <= seen)) return false;
      if (e > seen) this._close(runId, e, false);
      return true;
    }
    try {
      this.admit(runId, epoch);
    } catch (err) {
      if (err instanceof StaleEpoch) return false;
      throw err;
    }
    const seen = this.live.get(runId);
    this.live.delete(runId);
    if (seen) this._close(runId, seen, false);
    return true;
  }

  _close(runId, seen, forgotten) {
    this.ended.delete(runId);
    this.ended.set(runId, { seen, forgotten });
    while (this.ended.size > this.endedRuns) this.ended.delete(this.ended.keys().next().value);
  }
}

module.exports = { ENDED_RUNS, LIVE_RUNS, EpochFence, ForgottenRun, StaleEpoch };
