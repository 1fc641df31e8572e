// Progress bars with rate and ETA for long replication work (initial copy, merge resync).
// cluster_status gives only {records, total} at each poll; the rate comes from the samples
// this page saw over the last few seconds.

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

// One bar: `kind` "copy" or "merge", `done` of `total` records at `rate` per second.
export function progressBar({ kind, peer, database, done, total, rate }) {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const eta = rate > 0 && total > done ? ((total - done) / rate) * 1000 : null;
  const label = kind === "copy" ? "initial copy" : "merge resync";
  const details = [
    `${fmtCount(done)} / ${fmtCount(total)} records (${(fraction * 100).toFixed(1)} %)`,
    rate === null ? "rate –" : `${fmtCount(Math.round(rate))} rec/s`,
    eta === null ? "ETA –" : `ETA ${fmtMs(eta)}`,
  ].join(" · ");
  return h(
    "div",
    { class: "progress", data: { kind, peer, db: database, done: String(done), total: String(total) } },
    h("div", { class: "progress-label", text: `${label} of ${database} from ${peer}` }),
    h("progress", { max: String(total || 1), value: String(done) }),
    h("div", { class: "progress-details", text: details }),
  );
}
