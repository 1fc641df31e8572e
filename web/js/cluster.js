// The cluster view, drawn from cluster_status: a picture of this node, every peer it knows
// and the nodes its peers link to, with the state of each link (this node's own, and the
// links between its peers that they tell: peer_links.js), a table of links per database (lag,
// latency, subscriptions), progress bars for initial copies and merges, the discovery and TLS
// panel, and alerts for links in an error state.

import { h, fill, fmtCount, fmtMs } from "./dom.js";
import { anyConnected, linkStateOf, socketState } from "./link_state.js";
import { peerEdges, peerLinkAlerts, remoteNodes, unknownPeers } from "./peer_links.js";
import { RateTracker, progressBar } from "./progress.js";

export { socketState };

function linkState(connection) {
  return linkStateOf(connection.database_sockets || []);
}

function isConnected(connection) {
  return anyConnected(connection.database_sockets || []);
}

function peerName(connection) {
  return connection.name || connection.url || "?";
}

function subscriptionText(connection) {
  if (!Array.isArray(connection.subscriptions)) return "all tables, both ways";
  const parts = connection.subscriptions.map((s) => {
    const ways = [s.publish ? "publish" : null, s.subscribe ? "subscribe" : null].filter(Boolean);
    return `${s.database}.${s.table}: ${ways.join(" + ") || "none"}`;
  });
  const owner = connection.subscriptions_owner ? ` (defined by ${connection.subscriptions_owner})` : "";
  return parts.join("; ") + owner;
}

function tlsOf(url) {
  if (!url) return "";
  return url.startsWith("wss://") ? "TLS (wss)" : url.startsWith("ws://") ? "no TLS (ws)" : "";
}

function stateLabel(state, connected) {
  return connected ? state : `disconnected (${state})`;
}

function lagText(lag) {
  return `${fmtCount(lag.records)} records, ${fmtMs(lag.ms)} behind`;
}

// The picture: this node in the middle; its peers, then the nodes only its peers link to, on
// an ellipse around it; a line per link: this node's own, and those between the others.
function clusterMap(status, edges) {
  const connections = status.connections || [];
  const unknown = new Map(unknownPeers(status).map((u) => [u.node, u.reason]));
  const remote = remoteNodes(status, edges);
  const width = 640;
  const height = 340;
  const cx = width / 2;
  const cy = height / 2;
  // The others on an ellipse around this node, the first one up and to the right.
  const rx = 230;
  const ry = 115;
  const count = connections.length + remote.length;
  // With links between the others, an odd number of places: no two of them face each other
  // across this node, so no such line runs through it.
  const slots = edges.length && count % 2 === 0 ? count + 1 : count;
  const place = new Map();
  const spot = (i) => {
    const angle = (2 * Math.PI * i) / slots - Math.PI / 4;
    return { x: cx + rx * Math.cos(angle), y: cy + ry * Math.sin(angle) };
  };
  connections.forEach((c, i) => place.set(peerName(c), spot(i)));
  remote.forEach((name, i) => place.set(name, spot(connections.length + i)));
  const svg = h("svg:svg", {
    id: "cluster-map",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "cluster map",
  });
  const links = h("svg:g", { class: "links" });
  const nodes = h("svg:g", { class: "nodes" });
  // Links between the others first, under this node's own.
  for (const edge of edges) {
    const p = place.get(edge.a);
    const q = place.get(edge.b);
    if (!p || !q) continue;
    const label = stateLabel(edge.state, edge.connected);
    links.append(
      h(
        "svg:g",
        { class: `peer-link state-${edge.state}`, data: { a: edge.a, b: edge.b, state: edge.state, connected: String(edge.connected) } },
        h("svg:line", { x1: p.x, y1: p.y, x2: q.x, y2: q.y }),
        h("svg:text", { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 - 6, class: "link-label", text: label }),
        h("svg:title", { text: `${edge.a} ↔ ${edge.b}: ${label}, ${lagText(edge.lag)} (told by ${edge.reporters.join(" and ")})` }),
      ),
    );
  }
  connections.forEach((connection) => {
    const name = peerName(connection);
    const { x, y } = place.get(name);
    const state = linkState(connection);
    const connected = isConnected(connection);
    const label = stateLabel(state, connected);
    links.append(
      h(
        "svg:g",
        { class: `link state-${state}`, data: { peer: name, url: connection.url || "", state, connected: String(connected) } },
        h("svg:line", { x1: cx, y1: cy, x2: x, y2: y }),
        // Nearer the peer than the middle: clear of this node's own label.
        h("svg:text", { x: cx + 0.65 * (x - cx), y: cy + 0.65 * (y - cy) - 6, class: "link-label", text: label }),
        h("svg:title", { text: `${status.node_name} ↔ ${name}: ${label}` }),
      ),
    );
    const linksUnknown = unknown.has(name);
    nodes.append(
      h(
        "svg:g",
        { class: `node peer ${connected ? "up" : "down"}${linksUnknown ? " links-unknown" : ""}`, data: { node: name } },
        h("svg:circle", { cx: x, cy: y, r: 26 }),
        h("svg:text", { x, y: y + 42, class: "node-label", text: name }),
        linksUnknown ? h("svg:title", { text: `${name}: its links are not known (${unknown.get(name)})` }) : null,
      ),
    );
  });
  for (const name of remote) {
    const { x, y } = place.get(name);
    const up = edges.some((e) => e.connected && (e.a === name || e.b === name));
    nodes.append(
      h(
        "svg:g",
        { class: `node remote ${up ? "up" : "down"}`, data: { node: name } },
        h("svg:circle", { cx: x, cy: y, r: 22 }),
        h("svg:text", { x, y: y + 38, class: "node-label", text: name }),
        h("svg:title", { text: `${name}: not linked to this node; known from its peers' links` }),
      ),
    );
  }
  nodes.append(
    h(
      "svg:g",
      { class: "node self", data: { node: status.node_name } },
      h("svg:circle", { cx, cy, r: 32 }),
      h("svg:text", { x: cx, y: cy + 50, class: "node-label", text: `${status.node_name} (this node)` }),
    ),
  );
  svg.append(links, nodes);
  return svg;
}

// Each socket of the links between the others, as the end that told it sees it.
function peerLinksTable(status, edges) {
  const unknown = unknownPeers(status);
  const rows = edges.flatMap((edge) =>
    edge.sockets.map((s) => {
      const state = socketState(s);
      return h(
        "tr",
        { class: `state-${state}`, data: { from: s.reporter, to: s.peer, db: s.database, state, connected: String(Boolean(s.connected)) } },
        h("td", { text: `${s.reporter} → ${s.peer}` }),
        h("td", { text: s.database }),
        h("td", {}, h("span", { class: `badge state-${state}`, text: state })),
        h("td", { text: s.connected ? "connected" : "disconnected" }),
        h("td", { class: "num", text: fmtCount(s.records_behind ?? 0) }),
        h("td", { class: "num", text: fmtMs(s.ms_behind ?? 0) }),
      );
    }),
  );
  const table = rows.length
    ? h(
        "table",
        { id: "peer-links" },
        h("thead", {}, h("tr", {}, ...["link (told by the node on the left)", "database", "state", "link", "records behind", "ms behind"].map((t) => h("th", { text: t })))),
        h("tbody", {}, ...rows),
      )
    : h("p", { class: "muted", text: "No links between the peers of this node." });
  const notes = unknown.map((u) =>
    h("p", { class: "small muted unknown-peer", data: { node: u.node }, text: `${u.node}: its links are not known (${u.reason}).` }),
  );
  return [table, ...notes];
}

function linkRows(connection) {
  const name = peerName(connection);
  return (connection.database_sockets || []).map((s) => {
    const state = socketState(s);
    return h(
      "tr",
      { class: `state-${state}`, data: { peer: name, db: s.database, state, connected: String(Boolean(s.connected)) } },
      h("td", { text: name }),
      h("td", { text: s.database }),
      h("td", {}, h("span", { class: `badge state-${state}`, text: state })),
      h("td", { text: s.connected ? "connected" : "disconnected" }),
      h("td", { class: "num", text: fmtCount(s.records_behind ?? 0) }),
      h("td", { class: "num", text: fmtMs(s.ms_behind ?? 0) }),
      h("td", { class: "num", text: typeof s.latency === "number" ? fmtMs(s.latency) : "–" }),
      h("td", { class: "small", text: s.last_error || s.last_dial_error || "" }),
    );
  });
}

function linksTable(connections) {
  if (!connections.length) return h("p", { class: "muted", text: "No peers: this node is not linked to any other." });
  return h(
    "table",
    { id: "links" },
    h(
      "thead",
      {},
      h("tr", {}, ...["peer", "database", "state", "link", "records behind", "ms behind", "latency", "last error"].map((t) => h("th", { text: t }))),
    ),
    h("tbody", {}, ...connections.flatMap(linkRows)),
  );
}

function peersTable(connections) {
  return h(
    "table",
    { id: "peers" },
    h("thead", {}, h("tr", {}, ...["peer", "url", "transport", "subscriptions"].map((t) => h("th", { text: t })))),
    h(
      "tbody",
      {},
      ...connections.map((c) =>
        h(
          "tr",
          { data: { peer: peerName(c) } },
          h("td", { text: peerName(c) }),
          h("td", { text: c.url || "" }),
          h("td", { text: tlsOf(c.url) }),
          h("td", { class: "subscriptions", text: subscriptionText(c) }),
        ),
      ),
    ),
  );
}

function discoveryPanel(discovery) {
  const rows = ["mode", "key", "endpoint", "registered", "is_seed", "seed", "ttl_s", "last_error"]
    .filter((k) => k in discovery)
    .map((k) => h("tr", {}, h("th", { text: k }), h("td", { text: discovery[k] === null ? "–" : String(discovery[k]) })));
  return h("section", { id: "discovery", class: "card" }, h("h3", { text: "Discovery" }), h("table", { class: "kv" }, ...rows));
}

// Alerts of links in an error state (an apply error, or a peer refusing us).
export function linkAlerts(status) {
  const alerts = [];
  for (const c of status.connections || []) {
    for (const s of c.database_sockets || []) {
      const state = socketState(s);
      if (state === "error") alerts.push(`Link to ${peerName(c)} (database ${s.database}) is in error: ${s.last_error}`);
      if (state === "refused") alerts.push(`${peerName(c)} refused the link for ${s.database}: ${s.last_dial_error}`);
    }
  }
  alerts.push(...peerLinkAlerts(peerEdges(status)));
  if (status.discovery?.last_error) alerts.push(`Discovery: ${status.discovery.last_error}`);
  return alerts;
}

// The alert for one cluster_verify reply of `database`, or null when it found no difference
// (members it could not reach are not a difference: the links table shows them).
export function verifyAlert(database, result) {
  const tables = result?.differing_tables ?? [];
  if (!tables.length) return null;
  return `cluster_verify found a difference in database ${database}: tables ${tables.join(", ")}`;
}

// The copies and merges running on the sockets of `connections`, one item per bar: kind
// "copy" (copy_progress), "merge" (merge_progress: the peer's rows coming here) or
// "merge-send" (merge_send_progress: ours going to the peer). A merge's rows move in its last
// phase only ("sending" / "receiving"), so only then is it `moving` (its rate is sampled).
export function progressItems(connections) {
  const items = [];
  for (const c of connections) {
    for (const s of c.database_sockets || []) {
      const running = [["copy", s.copy_progress], ["merge", s.merge_progress], ["merge-send", s.merge_send_progress]];
      for (const [kind, p] of running) {
        if (!p) continue;
        items.push({
          kind,
          key: `${kind}|${peerName(c)}|${s.database}${s.duplicate ? "|duplicate" : ""}`,
          peer: peerName(c),
          database: s.database,
          done: p.records,
          total: p.total ?? null,
          phase: p.phase,
          moving: kind === "copy" || p.phase === "sending" || p.phase === "receiving",
        });
      }
    }
  }
  return items;
}

export class ClusterView {
  constructor(root) {
    this.root = root;
    this.rates = new RateTracker();
  }

  progressBars(connections) {
    const live = new Set();
    const bars = [];
    for (const item of progressItems(connections)) {
      live.add(item.key);
      const rate = item.moving ? this.rates.sample(item.key, item.done) : null;
      bars.push(progressBar({ ...item, rate }));
    }
    this.rates.retain(live);
    return bars;
  }

  // Draws `status`; true while a copy or merge runs.
  render(status) {
    const connections = status.connections || [];
    const edges = peerEdges(status);
    const bars = this.progressBars(connections);
    const up = connections.filter(isConnected).length;
    const summary = h(
      "p",
      { id: "cluster-summary" },
      `This node: ${status.node_name}`,
      status.url ? ` · ${status.url} · ${tlsOf(status.url)}` : "",
      ` · ${connections.length} peer(s), ${up} connected`,
      ` · refused/failed links since start: ${status.link_errors ?? 0}`,
    );
    const lastLinkError = status.last_link_error
      ? h("p", { class: "small muted", text: `Last link error: ${status.last_link_error}` })
      : null;
    fill(
      this.root,
      summary,
      lastLinkError,
      clusterMap(status, edges),
      h("h3", { text: "Links" }),
      linksTable(connections),
      // A node too old to tell its peers' links has no peer_links: nothing to show.
      status.peer_links ? h("h3", { text: "Links between peers" }) : null,
      status.peer_links ? peerLinksTable(status, edges) : null,
      h("h3", { text: "Copy and merge progress" }),
      h("div", { id: "progress" }, ...(bars.length ? bars : [h("p", { class: "muted", text: "No initial copy or merge running." })])),
      connections.length ? h("h3", { text: "Peers and subscriptions" }) : null,
      connections.length ? peersTable(connections) : null,
      status.discovery ? discoveryPanel(status.discovery) : null,
    );
    return bars.length > 0;
  }
}
