// Databases and tables (describe_all: record counts and sizes) and a table browser that
// pages through a table with search_by_value's limit/offset. A user without super_user sees
// what describe_all shows it: the tables its role may read.

import { h, fill, fmtCount, fmtBytes } from "./dom.js";

const kPageSize = 25;

export class DataView {
  // `session`: api.js Session; `onError(e)`: reports a failed operation.
  constructor(listRoot, browserRoot, session, onError) {
    this.listRoot = listRoot;
    this.browserRoot = browserRoot;
    this.session = session;
    this.onError = onError;
    this.browsing = null; // {database, table, primaryKey, offset, total}
  }

  async load() {
    let all;
    try {
      all = await this.session.op({ operation: "describe_all" });
    } catch (e) {
      this.onError(e);
      return;
    }
    const databases = Object.keys(all).sort();
    if (!databases.length) {
      fill(this.listRoot, h("p", { class: "muted", text: "No databases (or none this user may read)." }));
      return;
    }
    fill(this.listRoot, ...databases.map((db) => this.databaseCard(db, all[db])));
  }

  databaseCard(database, tables) {
    const names = Object.keys(tables).sort();
    const rows = names.map((name) => {
      const t = tables[name];
      return h(
        "tr",
        { data: { db: database, table: name } },
        h("td", {}, h("button", { class: "link", text: name, on: { click: () => this.browse(database, name, t.hash_attribute, t.record_count) } })),
        h("td", { class: "num records", text: fmtCount(t.record_count) }),
        h("td", { class: "num", text: fmtBytes(t.table_size) }),
        h("td", { text: t.hash_attribute || "" }),
      );
    });
    const size = names.length ? tables[names[0]].db_size : undefined;
    return h(
      "div",
      { class: "card database", data: { db: database } },
      h("h3", { text: `${database}` }, h("span", { class: "muted small", text: size === undefined ? "" : ` · ${fmtBytes(size)} on disk` })),
      names.length
        ? h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ...["table", "records", "size", "primary key"].map((t) => h("th", { text: t })))),
            h("tbody", {}, ...rows),
          )
        : h("p", { class: "muted", text: "No tables." }),
    );
  }

  async browse(database, table, primaryKey, total, offset = 0) {
    this.browsing = { database, table, primaryKey, total, offset };
    let rows;
    try {
      rows = await this.session.op({
        operation: "search_by_value",
        database,
        table,
        search_attribute: primaryKey,
        search_value: "*",
        get_attributes: ["*"],
        limit: kPageSize,
        offset,
      });
    } catch (e) {
      this.onError(e);
      return;
    }
    this.renderPage(rows);
  }

  renderPage(rows) {
    const { database, table, primaryKey, total, offset } = this.browsing;
    const columns = [primaryKey];
    for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
    const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
    const last = offset + rows.length;
    const pager = h(
      "div",
      { class: "pager" },
      h("button", {
        text: "◀ previous",
        class: "prev",
        ...(offset === 0 ? { disabled: "" } : {}),
        on: { click: () => this.browse(database, table, primaryKey, total, Math.max(0, offset - kPageSize)) },
      }),
      h("span", { class: "page-info", text: rows.length ? `rows ${fmtCount(offset + 1)}–${fmtCount(last)} of ${fmtCount(total)}` : "no rows" }),
      h("button", {
        text: "next ▶",
        class: "next",
        ...(rows.length < kPageSize ? { disabled: "" } : {}),
        on: { click: () => this.browse(database, table, primaryKey, total, offset + kPageSize) },
      }),
    );
    fill(
      this.browserRoot,
      h("h3", { text: `${database}.${table}` }),
      pager,
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { id: "rows", data: { db: database, table, offset: String(offset) } },
          h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { text: c })))),
          h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map((c) => h("td", { text: cell(row[c]) }))))),
        ),
      ),
    );
  }
}
