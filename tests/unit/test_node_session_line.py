"""The Node example's Session stream pauses once the calls waiting for a
slot hold WAITING_BYTES (their size on the wire, which service.js keeps on
each request as it reads it), as the Python SDK's does, not only once so many wait; a
cancel of a waiting call gives its bytes back. A stream stand-in records
`pause` and `resume`; the executor host's calls never end."""

from __future__ import annotations

import json
import subprocess

from tests.support.processes import NODE_SERVICE, require_node

SCRIPT = """
const { EventEmitter } = require('node:events');
const { WAITING_BYTES, WIRE_BYTES, session } = require('./session');
const call = new EventEmitter();
const said = [];
Object.assign(call, {
  sendMetadata() {}, write() {}, end() {},
  pause() { said.push('pause'); }, resume() { said.push('resume'); },
});
const host = { fastPath: true, execute: () => new Promise(() => {}) };
session(host, call, 4);
const execute = (id, bytes) => ({ call_id: id, execute: {}, [WIRE_BYTES]: bytes });
const out = {};
for (const id of [1, 2, 3, 4]) call.emit('data', execute(id, 10));  // the four slots
call.emit('data', execute(5, 10));  // waits
out.small = [...said];
call.emit('data', execute(6, WAITING_BYTES));  // two wait, of four: the bytes are past
out.large = [...said];
said.length = 0;
call.emit('data', { call_id: 6, cancel: true });  // dropped: its bytes are free again
out.cancelled = [...said];
const { Session } = require('./service').loadExecutorService().service;
const bytes = Session.requestSerialize({ call_id: 7, execute: { run_id: 'r'.repeat(100) } });
out.wire = [Session.requestDeserialize(bytes)[WIRE_BYTES], bytes.length];
console.log(JSON.stringify(out));
"""


def test_the_node_stream_pauses_once_its_waiting_calls_hold_so_many_bytes() -> None:
    require_node()
    done = subprocess.run(
        ["node", "-e", SCRIPT], cwd=NODE_SERVICE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "pause" not in out["small"]  # one small call waits
    assert out["large"][-1] == "pause"  # two of four may wait, but not so many bytes
    assert out["cancelled"][-1] == "resume"
    assert out["wire"][0] == out["wire"][1] > 100  # a request read keeps its size
