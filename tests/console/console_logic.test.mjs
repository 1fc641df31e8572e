// The console's pure logic (no DOM), with Node's own test runner: which state a link shows,
// which alerts the page raises, the rate behind the progress bars. ctest: console_logic.
import assert from "node:assert/strict";
import { test } from "node:test";

import { linkAlerts, progressItems, socketState, verifyAlert } from "../../web/js/cluster.js";
import { peerEdges, remoteNodes, unknownPeers } from "../../web/js/peer_links.js";
import { RateTracker, etaMs, progressLabel } from "../../web/js/progress.js";

const socket = (fields) => ({ database: "dev", connected: false, state: "Idle", ...fields });

test("a connected socket shows what it is doing", () => {
  assert.equal(socketState(socket({ connected: true, state: "Streaming" })), "streaming");
  assert.equal(socketState(socket({ connected: true, state: "CatchingUp", copy_progress: { records: 1, total: 9 } })), "copying");
  assert.equal(socketState(socket({ connected: true, state: "CatchingUp", merge_progress: { records: 1, total: 9 } })), "merging");
  assert.equal(socketState(socket({ connected: true, state: "CatchingUp", merge_send_progress: { phase: "hashing", records: 0, total: null } })), "merging");
  assert.equal(socketState(socket({ connected: true, state: "CatchingUp" })), "catching-up");
  assert.equal(socketState(socket({ connected: true, state: "Error", last_error: "x" })), "error");
});

test("a peer's refusal is told apart from a stopped peer", () => {
  const refused = "peer ws://b:9925 refused our credentials (401): Login failed";
  assert.equal(socketState(socket({ state: "Backoff", last_dial_error: refused })), "refused");
  assert.equal(socketState(socket({ state: "Backoff", last_dial_error: "peer refused: removed node" })), "refused");
  // A TCP "Connection refused" is a node that is down, not a refusal.
  const down = "cannot connect to ws://b:9925: Connection refused";
  assert.equal(socketState(socket({ state: "Backoff", last_dial_error: down })), "backoff");
  assert.equal(socketState(socket({ state: "Connecting" })), "connecting");
  assert.equal(socketState(socket({})), "idle");
});

test("alerts name the link in error, the refusal and discovery's error", () => {
  const status = {
    connections: [
      { name: "b", database_sockets: [socket({ connected: true, state: "Error", last_error: "applying transaction 2 failed" })] },
      { name: "c", database_sockets: [socket({ state: "Backoff", last_dial_error: "peer refused: removed node" }), socket({ database: "x", connected: true, state: "Streaming" })] },
    ],
    discovery: { mode: "etcd-kv", last_error: "etcd: connection refused" },
  };
  assert.deepEqual(linkAlerts(status), [
    "Link to b (database dev) is in error: applying transaction 2 failed",
    "c refused the link for dev: peer refused: removed node",
    "Discovery: etcd: connection refused",
  ]);
  assert.deepEqual(linkAlerts({ connections: [{ name: "b", database_sockets: [socket({ connected: true, state: "Streaming" })] }] }), []);
});

// cluster_status of "a" linked to b and c, where b and c tell their own links.
function withPeerLinks(bToC, cToB) {
  const link = (name, fields) => ({ name, database_sockets: [socket(fields)] });
  return {
    node_name: "a",
    connections: [{ name: "b", database_sockets: [] }, { name: "c", database_sockets: [] }],
    peer_links: [
      { node_name: "b", status: "ok", links: [link("a", { connected: true, state: "Streaming" }), link("c", bToC), link("d", { connected: true, state: "Streaming", records_behind: 4, ms_behind: 90 })] },
      cToB ? { node_name: "c", status: "ok", links: [link("b", cToB)] } : { node_name: "c", status: "unknown", reason: "no live replication link to 'c'" },
    ],
  };
}

test("a link two peers both tell is one edge, in its most pressing state", () => {
  const edges = peerEdges(withPeerLinks({ connected: true, state: "Streaming" }, { connected: true, state: "CatchingUp", merge_progress: { records: 1 } }));
  assert.deepEqual(edges.map((e) => [e.a, e.b, e.state, e.connected]), [["b", "c", "merging", true], ["b", "d", "streaming", true]]);
  assert.deepEqual(edges[0].reporters, ["b", "c"]);
  assert.deepEqual(edges[1].lag, { records: 4, ms: 90 });
  // Links to this node are its own view's, never a peer edge.
  assert.ok(!edges.some((e) => e.a === "a" || e.b === "a"));
});

test("a peer that does not answer is unknown; the other end still tells the link", () => {
  const status = withPeerLinks({ state: "Backoff", last_dial_error: "cannot connect to ws://c:9925: Connection refused" }, null);
  const edges = peerEdges(status);
  assert.deepEqual(edges.map((e) => [e.a, e.b, e.state, e.connected]), [["b", "c", "backoff", false], ["b", "d", "streaming", true]]);
  assert.deepEqual(unknownPeers(status), [{ node: "c", reason: "no live replication link to 'c'" }]);
  // d is linked to b only: known from b's links.
  assert.deepEqual(remoteNodes(status, edges), ["d"]);
  // A node too old to send peer_links: nothing beyond its own links.
  assert.deepEqual(peerEdges({ node_name: "a", connections: [] }), []);
});

test("a peer link in error or refused raises an alert", () => {
  const status = withPeerLinks({ state: "Backoff", last_dial_error: "peer refused: removed node" }, { connected: true, state: "Error" });
  assert.deepEqual(linkAlerts(status), [
    "c refused b's link for dev: peer refused: removed node",
    "c's link to b (database dev) is in error",
  ]);
});

test("cluster_verify alerts on a difference only", () => {
  assert.equal(verifyAlert("dev", { matches: false, differing_tables: ["dog", "cat"], unreachable: [] }),
    "cluster_verify found a difference in database dev: tables dog, cat");
  assert.equal(verifyAlert("dev", { matches: false, differing_tables: [], unreachable: ["c"] }), null);
  assert.equal(verifyAlert("dev", { matches: true, differing_tables: [] }), null);
});

test("the rate is records per second over the samples, and restarts with a new copy", () => {
  const rates = new RateTracker();
  assert.equal(rates.sample("k", 0, 1000), null);
  assert.equal(rates.sample("k", 5000, 2000), 5000);
  assert.equal(rates.sample("k", 8000, 3000), 4000);
  // A smaller count is a new copy: the samples start over.
  assert.equal(rates.sample("k", 100, 4000), null);
  rates.retain(new Set());
  assert.equal(rates.sample("k", 50, 5000), null);
});

test("copies and merges each get a bar, merges in both directions with their phase", () => {
  const connections = [
    {
      name: "b",
      database_sockets: [
        socket({ connected: true, copy_progress: { records: 10, total: 100 } }),
        socket({ database: "x", connected: true, merge_progress: { phase: "receiving", records: 5, total: 50, rate: 2 } }),
        socket({ database: "y", connected: true, merge_send_progress: { phase: "hashing", records: 0, total: null, rate: 0 } }),
        socket({ database: "z", connected: true, state: "Streaming", merge_progress: null, merge_send_progress: null }),
      ],
    },
  ];
  const items = progressItems(connections).map(({ kind, key, database, done, total, phase, moving }) =>
    [kind, key, database, done, total, phase ?? "", moving].join(" "));
  assert.deepEqual(items, [
    "copy copy|b|dev dev 10 100  true",
    "merge merge|b|x x 5 50 receiving true",
    "merge-send merge-send|b|y y 0  hashing false",
  ]);
  assert.equal(progressLabel({ kind: "copy", peer: "b", database: "dev" }), "initial copy of dev from b");
  assert.equal(progressLabel({ kind: "merge", peer: "b", database: "x", phase: "receiving" }), "merge resync of x from b (receiving)");
  assert.equal(progressLabel({ kind: "merge-send", peer: "b", database: "y", phase: "comparing" }), "merge resync of y to b (comparing)");
});

test("a duplicate connection's merge gets a bar of its own", () => {
  const sending = { phase: "sending", records: 5, total: 50, rate: 1 };
  const connections = [
    {
      name: "b",
      database_sockets: [
        socket({ connected: true, state: "CatchingUp", merge_send_progress: sending }),
        socket({ connected: true, state: "CatchingUp", duplicate: true, merge_send_progress: { ...sending, phase: "comparing" } }),
      ],
    },
  ];
  const keys = progressItems(connections).map((item) => item.key);
  assert.deepEqual(keys, ["merge-send|b|dev", "merge-send|b|dev|duplicate"]);
});

test("the ETA is the records left at the rate, unknown without a rate or a total", () => {
  assert.equal(etaMs(50, 150, 10), 10000);
  assert.equal(etaMs(50, 150, null), null);
  assert.equal(etaMs(50, null, 10), null);
  assert.equal(etaMs(150, 150, 10), null);
});
