// The operation box: any operation as JSON in, the node's JSON reply out, with the list of
// operations to start from. It goes through the same session (and the same permissions) as
// the rest of the page.

import { h } from "./dom.js";
import { AuthError } from "./api.js";

// Each operation with a template of its fields.
const kOperations = {
  describe_all: {},
  describe_database: { database: "data" },
  describe_table: { database: "data", table: "dog" },
  create_database: { database: "data" },
  drop_database: { database: "data" },
  create_table: { database: "data", table: "dog", primary_key: "id" },
  drop_table: { database: "data", table: "dog" },
  create_attribute: { database: "data", table: "dog", attribute: "name" },
  insert: { database: "data", table: "dog", records: [{ id: 1, name: "Penny" }] },
  update: { database: "data", table: "dog", records: [{ id: 1, name: "Penny" }] },
  upsert: { database: "data", table: "dog", records: [{ id: 1, name: "Penny" }] },
  delete: { database: "data", table: "dog", ids: [1] },
  search_by_id: { database: "data", table: "dog", ids: [1], get_attributes: ["*"] },
  search_by_value: { database: "data", table: "dog", search_attribute: "name", search_value: "P*", get_attributes: ["*"], limit: 10 },
  search_by_conditions: {
    database: "data",
    table: "dog",
    operator: "and",
    get_attributes: ["*"],
    limit: 10,
    offset: 0,
    conditions: [{ search_attribute: "name", search_type: "starts_with", search_value: "P" }],
  },
  cluster_status: {},
  cluster_verify: { database: "data" },
  add_node: { hostname: "127.0.0.2", authorization: { username: "admin", password: "…" } },
  update_node: { hostname: "127.0.0.2" },
  remove_node: { hostname: "127.0.0.2" },
  configure_cluster: { connections: [] },
  cluster_get_routes: {},
  cluster_set_routes: { routes: ["127.0.0.2:9925"] },
  cluster_delete_routes: { routes: ["127.0.0.2:9925"] },
  list_users: {},
  list_roles: {},
  user_info: {},
  add_user: { username: "reader", password: "…", role: "reader", active: true },
  alter_user: { username: "reader", active: false },
  drop_user: { username: "reader" },
  add_role: { role: "reader", permission: { data: { tables: { dog: { read: true, insert: false, update: false, delete: false } } } } },
  alter_role: { id: "reader", permission: {} },
  drop_role: { id: "reader" },
  list_certificates: {},
  system_information: {},
  get_configuration: {},
  set_configuration: { logging_level: "info" },
  read_log: { limit: 100 },
};

export class OperationBox {
  // `session`: api.js Session; `onAuthError(e)`: the session ended.
  constructor(root, session, onAuthError) {
    this.session = session;
    this.onAuthError = onAuthError;
    this.select = h(
      "select",
      { id: "op-select", "aria-label": "operation", on: { change: () => this.useTemplate() } },
      ...Object.keys(kOperations).map((name) => h("option", { value: name, text: name })),
    );
    this.input = h("textarea", { id: "op-input", rows: "10", spellcheck: "false", "aria-label": "operation JSON" });
    this.status = h("span", { id: "op-status", class: "muted" });
    this.output = h("pre", { id: "op-output" });
    root.append(
      h("div", { class: "op-controls" }, this.select, h("button", { id: "op-run", text: "Run", on: { click: () => this.run() } }), this.status),
      this.input,
      this.output,
    );
    this.useTemplate();
  }

  useTemplate() {
    const name = this.select.value;
    this.input.value = JSON.stringify({ operation: name, ...kOperations[name] }, null, 2);
  }

  async run() {
    let body;
    try {
      body = JSON.parse(this.input.value);
    } catch (e) {
      this.show("invalid JSON", `The input is not JSON: ${e.message}`);
      return;
    }
    this.status.textContent = "running…";
    try {
      const reply = await this.session.raw(body);
      this.show(`HTTP ${reply.status}`, JSON.stringify(reply.body, null, 2));
    } catch (e) {
      if (e instanceof AuthError) this.onAuthError(e);
      else this.show("no answer", e.message);
    }
  }

  show(status, text) {
    this.status.textContent = status;
    this.output.textContent = text;
  }
}
