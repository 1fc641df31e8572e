// The console's entry point: the login form, then the live page. Nothing but the login form
// is shown before a login succeeds; every failure ends as a message on the page (banner or
// login form), never a blank screen.

import { $, h, fill } from "./dom.js";
import { AuthError, NodeUnreachable, OpError, Session } from "./api.js";
import { ClusterView, linkAlerts, verifyAlert } from "./cluster.js";
import { DataView } from "./data.js";
import { OperationBox } from "./operations.js";

const kPollMs = 1000; // cluster_status
const kBusyPollMs = 500; // cluster_status while a copy or merge runs (smoother rates)
const kDataPollMs = 10000; // describe_all
const kVerifyMs = 30000; // cluster_verify of each database

let session = null;
let timers = [];
let generation = 0; // a new login or logout ends the loops of the last one
let verifyAlerts = []; // from the latest cluster_verify round
let linkAlertList = [];

function banner(text, kind = "error") {
  const el = $("#banner");
  el.textContent = text || "";
  el.dataset.kind = kind;
  el.hidden = !text;
}

function renderAlerts() {
  const all = [...linkAlertList, ...verifyAlerts];
  fill($("#alerts"), ...all.map((text) => h("div", { class: "alert", role: "alert", text })));
}

function showLogin(message) {
  for (const t of timers) clearInterval(t);
  timers = [];
  generation++;
  session = null;
  verifyAlerts = [];
  linkAlertList = [];
  // Drop everything the last user saw.
  for (const id of ["#cluster", "#databases", "#browser", "#operation", "#alerts"]) fill($(id));
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#whoami").textContent = "";
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  banner("");
  $("#password").value = "";
}

// A failure of a background request: the session ended, the node went away, or a refusal.
// Whichever loop first finds the node gone marks the cluster view stale with the banner, so
// the page never says the node does not answer while showing its last view as current.
function onError(e) {
  if (e instanceof AuthError) showLogin(e.message);
  else if (e instanceof NodeUnreachable) {
    banner(`${e.message} The page keeps trying; what it shows may be out of date.`);
    $("#cluster").classList.add("stale");
  } else banner(e.message, "warning");
}

// One cluster_status; true while a copy or merge runs.
async function pollCluster(view, mine) {
  let status;
  try {
    // peer_links: the links between this node's peers too (a node too old to know the field
    // ignores it, and the page shows what it has).
    status = await session.op({ operation: "cluster_status", peer_links: true });
  } catch (e) {
    if (mine !== generation) return false; // logged out meanwhile
    if (e instanceof OpError && e.status === 403) {
      fill($("#cluster"), h("p", { class: "muted", text: "The cluster view needs a super_user role." }));
      return false;
    }
    onError(e);
    return false;
  }
  if (mine !== generation) return false;
  banner("");
  $("#cluster").classList.remove("stale");
  const busy = view.render(status);
  linkAlertList = linkAlerts(status);
  renderAlerts();
  return busy;
}

// Polls cluster_status until the session ends: faster while long work runs.
async function clusterLoop(view, mine) {
  while (mine === generation) {
    const busy = await pollCluster(view, mine);
    await new Promise((resolve) => setTimeout(resolve, busy ? kBusyPollMs : kPollMs));
  }
}

async function verifyAll() {
  const found = [];
  let databases;
  try {
    databases = Object.keys(await session.op({ operation: "describe_all" })).filter((d) => d !== "system");
  } catch (e) {
    onError(e);
    return;
  }
  for (const database of databases) {
    try {
      const alert = verifyAlert(database, await session.op({ operation: "cluster_verify", database }));
      if (alert) found.push(alert);
    } catch (e) {
      if (!(e instanceof OpError)) return onError(e);
    }
  }
  verifyAlerts = found;
  $("#verify-time").textContent = `last verified ${new Date().toLocaleTimeString()}`;
  renderAlerts();
}

function start() {
  const user = session.user;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#whoami").textContent = `${user.username} · ${session.superUser ? "super_user" : `role ${user.role?.role ?? "?"}`} · ${session.mode === "token" ? "token" : "basic"} login`;

  const cluster = new ClusterView($("#cluster"));
  const data = new DataView($("#databases"), $("#browser"), session, onError);
  new OperationBox($("#operation"), session, (e) => showLogin(e.message));
  $("#verify-panel").hidden = !session.superUser;

  clusterLoop(cluster, generation);
  data.load();
  timers.push(setInterval(() => data.load(), kDataPollMs));
  if (session.superUser) {
    verifyAll();
    timers.push(setInterval(verifyAll, kVerifyMs));
  }
}

async function login(event) {
  event.preventDefault();
  const username = $("#username").value;
  const password = $("#password").value;
  const useToken = $("#use-token").checked;
  $("#login-error").textContent = "Logging in…";
  try {
    session = useToken ? await Session.token(username, password) : await Session.basic(username, password);
  } catch (e) {
    session = null;
    $("#login-error").textContent =
      e instanceof AuthError || e instanceof NodeUnreachable ? e.message : `Login failed: ${e.message}`;
    return;
  }
  $("#password").value = "";
  start();
}

$("#login-form").addEventListener("submit", login);
$("#logout").addEventListener("click", () => showLogin("Logged out."));
$("#verify-now").addEventListener("click", () => verifyAll());
window.addEventListener("unhandledrejection", (e) => banner(`Unexpected error: ${e.reason?.message ?? e.reason}`));
showLogin("");
