"""An executor conformance suite: does a service honour `ExecutorService`?

Run it against any executor service, in any language::

    stepline-conformance HOST:PORT [--type NAME] [--message-type T] [--message JSON]...

or from Python with `connect(address, ...)` and `Suite.run()`. It checks that
Describe is sane (a stable incarnation id, named types with their input
types), that the messages of one Execute are handled in order, that
SaveCheckpoint / RestoreCheckpoint round-trip byte for byte, that
`known_state_hash` is honoured, that state belongs to one (run, executor)
pair, that EndRun releases a run's objects, and that errors come back as the
contract's gRPC statuses. Against the service's `reference` executor type
(specified in the README, "The reference executor"; the Python one is
`stepline.conformance.reference`) it also checks responses to requests,
shared-state reads and writes, fan-in batches and a state over the size cap.
Given a command that restarts the service it checks that the restart changes
the incarnation id (`restart_check`); given a reference service of the same
types it compares outputs, sent messages and state bytes with it, call by
call (`differential_check`).

It knows nothing of the executor's logic, so it compares the executor with
itself, and assumes of the type under test:

- it handles each of the given messages (JSON payloads of the given type name)
  without error, in any state, any number of times;
- its results and state depend only on the messages it received, in order,
  and its executor id (not on the run id, the superstep number, the clock or
  chance), so two runs fed the same messages save the same bytes;
- to observe order and isolation, the messages should be distinct and change
  the state; the checks say so in their report when they could not observe it.

Each check uses fresh run ids and the suite ends its runs afterwards, so it
may run against a service that is serving real runs.
"""

from stepline.conformance.checks import CHECKS, Check
from stepline.conformance.paired import differential_check, restart_check
from stepline.conformance.probe import CheckFailed, Probe, Target
from stepline.conformance.reference_checks import REFERENCE_CHECKS, REFERENCE_TYPE
from stepline.conformance.suite import CheckResult, SetupError, Suite, connect

__all__ = [
    "CHECKS",
    "REFERENCE_CHECKS",
    "REFERENCE_TYPE",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Probe",
    "SetupError",
    "Suite",
    "Target",
    "connect",
    "differential_check",
    "restart_check",
]
