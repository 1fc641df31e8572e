// The state a link shows, from the fields of cluster_status's database sockets (this node's
// `connections`, and the peers' own links in `peer_links`, which carry the same fields).

// A dial error the peer chose (credentials, certificate, removed node), as opposed to a
// network failure such as a TCP "Connection refused" from a stopped node.
const kRefusal = /refused our credentials|peer refused|refused the join|certificate of/i;

// The state shown for one (peer, database) socket:
// streaming, copying, merging, catching-up, error, connecting, backoff, refused, idle.
export function socketState(socket) {
  if (socket.state === "Error") return "error";
  if (socket.connected) {
    if (socket.copy_progress) return "copying";
    if (socket.merge_progress || socket.merge_send_progress) return "merging";
    if (socket.state === "CatchingUp") return "catching-up";
    return "streaming";
  }
  if (socket.last_dial_error && kRefusal.test(socket.last_dial_error)) return "refused";
  if (socket.state === "Backoff") return "backoff";
  if (socket.state === "Connecting") return "connecting";
  return "idle";
}

// The state of a whole link (all its sockets, of every database and either side): the most
// pressing of its sockets' ("idle" with none).
const kSeverity = ["error", "refused", "backoff", "connecting", "idle", "copying", "merging", "catching-up", "streaming"];
export function linkStateOf(sockets) {
  const states = sockets.map(socketState);
  if (!states.length) return "idle";
  return kSeverity.find((s) => states.includes(s));
}

export function anyConnected(sockets) {
  return sockets.some((s) => s.connected);
}

// The largest records and ms behind over `sockets`.
export function lagOf(sockets) {
  return {
    records: Math.max(0, ...sockets.map((s) => s.records_behind ?? 0)),
    ms: Math.max(0, ...sockets.map((s) => s.ms_behind ?? 0)),
  };
}
