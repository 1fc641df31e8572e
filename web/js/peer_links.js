// The links between this node's peers, from cluster_status's `peer_links` (asked for with
// `peer_links: true`): each linked peer tells its own links (docs/console.md). Here they become
// one edge per pair of nodes, both ends' reports merged, so a link two peers both tell is drawn
// once. A node too old to answer `peer_links` has none; a peer that did not answer (down,
// hung, or too old to take the call) is listed as unknown.

import { anyConnected, lagOf, linkStateOf, socketState } from "./link_state.js";

// [{a, b, sockets, reporters, state, connected, lag}], a < b, sorted; `sockets` are the
// database sockets both ends told, each with `reporter` (who told it) and `peer` (the other
// end). Links to this node are left out: its own view (`connections`) draws them.
export function peerEdges(status) {
  const self = status.node_name;
  const edges = new Map();
  for (const entry of status.peer_links || []) {
    if (entry.status !== "ok") continue;
    for (const link of entry.links || []) {
      if (!link.name || link.name === self || link.name === entry.node_name) continue;
      const [a, b] = [entry.node_name, link.name].sort();
      const key = `${a}\u0000${b}`;
      if (!edges.has(key)) edges.set(key, { a, b, sockets: [], reporters: [] });
      const edge = edges.get(key);
      edge.reporters.push(entry.node_name);
      for (const s of link.database_sockets || []) edge.sockets.push({ ...s, reporter: entry.node_name, peer: link.name });
    }
  }
  return [...edges.values()]
    .sort((x, y) => (x.a === y.a ? x.b.localeCompare(y.b) : x.a.localeCompare(y.a)))
    .map((e) => ({ ...e, state: linkStateOf(e.sockets), connected: anyConnected(e.sockets), lag: lagOf(e.sockets) }));
}

// The peers whose links are not known: [{node, reason}].
export function unknownPeers(status) {
  return (status.peer_links || [])
    .filter((entry) => entry.status !== "ok")
    .map((entry) => ({ node: entry.node_name, reason: entry.reason || "no answer" }));
}

// Nodes known only from the peers' links (not this node, not one of its peers), sorted.
export function remoteNodes(status, edges) {
  const known = new Set([status.node_name, ...(status.connections || []).map((c) => c.name || c.url)]);
  const remote = new Set();
  for (const e of edges) for (const n of [e.a, e.b]) if (!known.has(n)) remote.add(n);
  return [...remote].sort();
}

// Alerts of peer links in an error state, as told by one of their ends.
export function peerLinkAlerts(edges) {
  const alerts = [];
  for (const e of edges) {
    for (const s of e.sockets) {
      const state = socketState(s);
      if (state === "error") alerts.push(`${s.reporter}'s link to ${s.peer} (database ${s.database}) is in error`);
      if (state === "refused") alerts.push(`${s.peer} refused ${s.reporter}'s link for ${s.database}: ${s.last_dial_error}`);
    }
  }
  return alerts;
}
