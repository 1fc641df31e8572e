// Progress bars with rate and ETA for long replication work (initial copy, merge resync).
// cluster_status gives {records, total} at each poll (a merge also its phase, and a total of
// null until the rows phase begins); the rate comes from the samples this page saw over the
// last few seconds.

import { h, fmtCount, fmtMs } from "./dom.js";

const kWindowMs = 10000;

export class RateTracker {
  constructor() {
    this.samples = new Map(); // key -> [{t, done}], oldest first
  }

  // Records `done` for `key` at `now` (ms); returns records per second, or null while unknown.
  sample(key, done, now = performance.now()) {
    let list = this.samples.get(key);
    if (!list || (list.length && done < list[list.length - 1].done)) list = []; // restarted
    list.push({ t: now, done });
    while (list.length > 2 && now - list[0].t > kWindowMs) list.shift();
    this.samples.set(key, list);
    const first = list[0];
    const dt = (now - first.t) / 1000;
    return dt > 0 ? (done - first.done) / dt : null;
  }

  // Drops every key not in `live` (finished work).
  retain(live) {
    for (const key of this.samples.keys()) if (!live.has(key)) this.samples.delete(key);
  }
}

// The label of a bar: what runs, which way, and (a merge) its phase.
export function progressLabel({ kind, peer, database, phase }) {
  if (kind === "copy") return `initial copy of ${database} from ${peer}`;
  const way = kind === "merge-send" ? `to ${peer}` : `from ${peer}`;
  return `merge resync of ${database} ${way}` + (phase ? ` (${phase})` : "");
}

// Time left at `rate` records per second, in ms; null while unknown.
export function etaMs(done, total, rate) {
  return rate > 0 && total !== null && total > done ? ((total - done) / rate) * 1000 : null;
}

// One bar: `kind` "copy", "merge" (rows coming here) or "merge-send" (rows going to the peer),
// `done` of `total` records (null: not known yet) at `rate` per second.
export function progressBar({ kind, peer, database, done, total, rate, phase }) {
  const known = total !== null && total !== undefined;
  const fraction = known && total > 0 ? Math.min(1, done / total) : known ? 1 : 0;
  const eta = etaMs(done, known ? total : null, rate);
  const details = [
    known
      ? `${fmtCount(done)} / ${fmtCount(total)} records (${(fraction * 100).toFixed(1)} %)`
      : `${fmtCount(done)} records, total not known yet`,
    rate === null ? "rate –" : `${fmtCount(Math.round(rate))} rec/s`,
    eta === null ? "ETA –" : `ETA ${fmtMs(eta)}`,
  ].join(" · ");
  // A <progress> without a value is drawn as indeterminate (the total is not known yet).
  const bar = known
    ? h("progress", { max: String(total || 1), value: String(total > 0 ? done : 1) })
    : h("progress", {});
  return h(
    "div",
    {
      class: "progress",
      data: { kind, peer, db: database, phase: phase || "", done: String(done), total: known ? String(total) : "" },
    },
    h("div", { class: "progress-label", text: progressLabel({ kind, peer, database, phase }) }),
    bar,
    h("div", { class: "progress-details", text: details }),
  );
}
