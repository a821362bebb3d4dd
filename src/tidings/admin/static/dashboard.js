// tidings dashboard: plain JavaScript over the admin API, no build step, no libraries.
// Every request goes to this listener (same origin), so the browser sends the admin
// credentials it was asked for once.
"use strict";

const $ = (selector) => document.querySelector(selector);
const VIEWS = ["overview", "apps", "channels", "console", "publish", "webhooks"];
const CHART_POINTS = 60; // 2 minutes at one sample per 2 s
const CONSOLE_ROWS = 500; // rows kept on the page
const PAUSED_LIMIT = 1000; // records held while paused; more are counted as skipped

const state = {
  view: "overview",
  app: null,
  apps: [],
  history: [], // [{connections, rate}]
  lastTotals: null, // {time, messages}
  status: null, // the last /api/status
  webhookNote: "", // what the last redeliver did
  source: null, // the console's EventSource
  paused: false,
  held: [],
  skipped: 0,
  serverDropped: 0,
};

// -- helpers ------------------------------------------------------------------------

async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    ...options,
  });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  return { status: response.status, ok: response.ok, body };
}

function problem(reply) {
  const body = reply.body || {};
  return (body.error || `HTTP ${reply.status}`) + (body.hint ? ` (${body.hint})` : "");
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, onClick, options = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = options.secondary ? "secondary" : "";
  if (options.disabled) {
    b.disabled = true;
    b.title = options.disabled;
  }
  if (options.label) b.setAttribute("aria-label", options.label);
  b.addEventListener("click", onClick);
  return b;
}

function notice(text) {
  const el = $("#notice");
  el.textContent = text || "";
  el.hidden = !text;
}

function appPath(suffix) {
  return `/api/apps/${encodeURIComponent(state.app)}${suffix}`;
}

// -- navigation ---------------------------------------------------------------------

function show(view) {
  state.view = VIEWS.includes(view) ? view : "overview";
  for (const name of VIEWS) {
    $(`#view-${name}`).hidden = name !== state.view;
    const link = document.querySelector(`nav a[data-view="${name}"]`);
    if (name === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (state.view === "console") openConsole();
  else closeConsole();
  refresh();
}

function refresh() {
  if (state.view === "apps") loadApps();
  if (state.view === "channels") loadChannels();
  if (state.view === "webhooks") loadWebhooks();
}

// -- overview -----------------------------------------------------------------------

async function poll() {
  const reply = await api("/api/status");
  if (!reply.ok) {
    notice(`The admin API did not answer: ${problem(reply)}`);
    return;
  }
  notice("");
  const status = reply.body;
  state.status = status;
  $("#node-info").textContent =
    `node ${status.node_id} · tidings ${status.version} · broker ${status.broker.kind}` +
    (status.broker.healthy ? "" : " (unreachable)");
  fillAppSelect(status.apps);
  const messages = status.apps.reduce((n, a) => n + a.api_events + a.client_events, 0);
  const now = Date.now();
  let rate = 0;
  if (state.lastTotals) {
    const seconds = (now - state.lastTotals.time) / 1000;
    rate = seconds > 0 ? Math.max(0, messages - state.lastTotals.messages) / seconds : 0;
  }
  const perApp = {};
  for (const a of status.apps) {
    const before = state.lastTotals ? state.lastTotals.perApp[a.id] : undefined;
    const seconds = state.lastTotals ? (now - state.lastTotals.time) / 1000 : 0;
    const total = a.api_events + a.client_events;
    perApp[a.id] = { total, rate: before !== undefined && seconds > 0 ? (total - before) / seconds : 0 };
  }
  state.lastTotals = {
    time: now,
    messages,
    perApp: Object.fromEntries(Object.entries(perApp).map(([k, v]) => [k, v.total])),
  };
  state.history.push({ connections: status.connections, rate });
  if (state.history.length > CHART_POINTS) state.history.shift();
  const body = $("#overview-table tbody");
  body.replaceChildren();
  for (const a of status.apps) {
    const row = document.createElement("tr");
    cell(row, a.id + (a.enabled === false ? " (disabled)" : ""));
    cell(row, a.connections, "num");
    cell(row, a.channels, "num");
    cell(row, perApp[a.id].rate.toFixed(1), "num");
    body.appendChild(row);
  }
  drawChart();
}

function fillAppSelect(apps) {
  const select = $("#app-select");
  const ids = apps.map((a) => a.id);
  if (ids.join("\u0000") === state.apps.join("\u0000")) return;
  state.apps = ids;
  select.replaceChildren(...ids.map((id) => new Option(id, id)));
  const wanted = new URLSearchParams(location.search).get("app");
  if (!state.app || !ids.includes(state.app)) state.app = ids.includes(wanted) ? wanted : ids[0] || null;
  select.value = state.app || "";
}

function drawChart() {
  const canvas = $("#chart");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#d9dee3";
  ctx.lineWidth = 1;
  for (let i = 1; i < 4; i += 1) {
    ctx.beginPath();
    ctx.moveTo(0, (height * i) / 4);
    ctx.lineTo(width, (height * i) / 4);
    ctx.stroke();
  }
  const styles = getComputedStyle(document.documentElement);
  const series = [
    ["connections", styles.getPropertyValue("--conn").trim()],
    ["rate", styles.getPropertyValue("--msgs").trim()],
  ];
  ctx.font = "12px system-ui, sans-serif";
  series.forEach(([key, color], index) => {
    const values = state.history.map((p) => p[key]);
    const top = Math.max(1, ...values);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = (width * i) / (CHART_POINTS - 1);
      const y = height - 8 - ((height - 24) * v) / top;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = color;
    const label = key === "rate" ? "messages/s" : "connections";
    ctx.fillText(`${label} max ${top.toFixed(key === "rate" ? 1 : 0)}`, 8 + index * 200, 14);
  });
}

// -- apps ---------------------------------------------------------------------------

async function loadApps() {
  const reply = await api("/api/apps");
  const body = $("#apps-table tbody");
  body.replaceChildren();
  const status = $("#apps-status");
  const form = $("#app-create");
  if (!reply.ok) {
    status.textContent =
      reply.status === 404
        ? "This server has no app store: apps come from its configuration. " +
          "Creating, rotating and disabling need the app database (tidings apps)."
        : `The app store did not answer (${problem(reply)}); the apps this node serves:`;
    form.hidden = true;
    for (const id of state.apps) {
      const row = document.createElement("tr");
      cell(row, id);
      cell(row, "");
      cell(row, "");
      cell(row, "");
      cell(row, "config");
      cell(row, "read-only");
      body.appendChild(row);
    }
    return;
  }
  form.hidden = false;
  status.textContent = `${reply.body.apps.length} app(s)`;
  for (const app of reply.body.apps) {
    const row = document.createElement("tr");
    cell(row, app.id);
    cell(row, app.name || "");
    cell(row, app.key);
    cell(row, app.enabled ? "enabled" : "disabled", app.enabled ? "ok" : "bad");
    cell(row, app.source);
    const actions = cell(row, "");
    const readOnly = app.read_only ? "defined in the configuration: read-only" : "";
    actions.append(
      button("Rotate secret", () => rotate(app.id), { disabled: readOnly, label: `Rotate the secret of app ${app.id}` }),
      " ",
      button(app.enabled ? "Disable" : "Enable", () => setEnabled(app.id, !app.enabled), {
        secondary: true,
        disabled: readOnly,
        label: `${app.enabled ? "Disable" : "Enable"} app ${app.id}`,
      }),
    );
    body.appendChild(row);
  }
}

async function rotate(id) {
  const reply = await api(`/api/apps/${encodeURIComponent(id)}/rotate-secret`, { method: "POST", body: "{}" });
  $("#app-secret").textContent = reply.ok
    ? `New secret of app ${id} (shown once): ${reply.body.secret}`
    : `Could not rotate: ${problem(reply)}`;
  loadApps();
}

async function setEnabled(id, enabled) {
  const reply = await api(`/api/apps/${encodeURIComponent(id)}`, {
    method: "PATCH",
    body: JSON.stringify({ enabled }),
  });
  $("#app-secret").textContent = reply.ok
    ? `App ${id} is ${enabled ? "enabled" : "disabled"}`
    : `Could not change app ${id}: ${problem(reply)}`;
  loadApps();
}

async function createApp(event) {
  event.preventDefault();
  const fields = {};
  const name = $("#new-app-name").value.trim();
  const id = $("#new-app-id").value.trim();
  if (name) fields.name = name;
  if (id) fields.id = id;
  const reply = await api("/api/apps", { method: "POST", body: JSON.stringify(fields) });
  $("#app-secret").textContent = reply.ok
    ? `Created app ${reply.body.id}: key ${reply.body.key}, secret ${reply.body.secret} (shown once)`
    : `Could not create the app: ${problem(reply)}`;
  loadApps();
}

// -- channels -----------------------------------------------------------------------

async function loadChannels() {
  if (!state.app) return;
  const reply = await api(appPath("/channels"));
  const body = $("#channels-table tbody");
  body.replaceChildren();
  if (!reply.ok) {
    $("#channels-status").textContent = `Could not list channels: ${problem(reply)}`;
    return;
  }
  const names = Object.keys(reply.body.channels);
  $("#channels-status").textContent = names.length
    ? `${names.length} occupied channel(s) in app ${state.app}`
    : `No occupied channel in app ${state.app}`;
  for (const name of names) {
    const row = document.createElement("tr");
    cell(row, name);
    cell(row, reply.body.channels[name], "num");
    const users = reply.body.user_counts[name];
    cell(row, users === undefined ? "" : users, "num");
    const actions = cell(row, "");
    if (users !== undefined) {
      actions.append(button("Show members", () => loadMembers(name), { secondary: true, label: `Show the members of ${name}` }));
    }
    const kept = (reply.body.history || {})[name];
    cell(row, kept ? `serial ${kept.serial} · ${kept.kept} kept · stream ${kept.stream_id}` : "");
    body.appendChild(row);
  }
}

async function loadMembers(channel) {
  const reply = await api(appPath(`/channels/${encodeURIComponent(channel)}/members`));
  const box = $("#members");
  box.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = `Members of ${channel}`;
  box.appendChild(heading);
  if (!reply.ok) {
    box.append(problem(reply));
    return;
  }
  const list = document.createElement("ul");
  for (const [id, info] of Object.entries(reply.body.members)) {
    const item = document.createElement("li");
    item.textContent = info === null || info === undefined ? id : `${id}: ${JSON.stringify(info)}`;
    list.appendChild(item);
  }
  box.appendChild(list);
}

// -- debug console ------------------------------------------------------------------

const KIND_OF = {
  connection_opened: "connection",
  connection_closed: "connection",
  subscribed: "subscription",
  unsubscribed: "subscription",
  subscription_refused: "error",
  channel_occupied: "subscription",
  channel_vacated: "subscription",
  member_added: "subscription",
  member_removed: "subscription",
  subscription_count: "subscription",
  cache_miss: "subscription",
  signed_in: "connection",
  published: "published",
  client_event: "client_event",
  error_sent: "error",
  api_request_refused: "error",
  webhook_delivery: "webhook",
};

function openConsole() {
  closeConsole();
  if (!state.app) return;
  state.serverDropped = 0;
  const source = new EventSource(appPath("/console"));
  state.source = source;
  source.addEventListener("batch", (message) => {
    const batch = JSON.parse(message.data);
    state.serverDropped = batch.dropped;
    for (const record of batch.events) receive(record);
    consoleState();
  });
  source.addEventListener("open", () => consoleState("connected"));
  source.addEventListener("error", () => consoleState("reconnecting…"));
}

function closeConsole() {
  if (state.source) state.source.close();
  state.source = null;
}

function receive(record) {
  if (state.paused) {
    if (state.held.length < PAUSED_LIMIT) state.held.push(record);
    else state.skipped += 1;
    return;
  }
  addRow(record);
}

function bytes(n) {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

// One line of key=value pairs. Event data comes cut at 1 KiB by the server, with its full
// size; a cut one says so.
function details(record) {
  const skip = new Set(["time_ms", "type", "channel", "truncated"]);
  return Object.entries(record)
    .filter(([key, value]) => !skip.has(key) && value !== null && value !== undefined)
    .map(([key, value]) => {
      if (key === "size") return `size=${bytes(value)}`;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      if (key === "data" && record.truncated) return `data=${text}… (first 1 KiB of ${bytes(record.size)})`;
      return `${key}=${text}`;
    })
    .join("  ");
}

function addRow(record) {
  const row = document.createElement("tr");
  row.dataset.kind = KIND_OF[record.type] || "other";
  if (row.dataset.kind === "error") row.className = "error";
  cell(row, new Date(record.time_ms).toISOString().slice(11, 23));
  cell(row, record.type);
  cell(row, record.channel || "");
  cell(row, details(record));
  row.hidden = !matches(row);
  const body = $("#console-table tbody");
  body.prepend(row);
  while (body.rows.length > CONSOLE_ROWS) body.deleteRow(body.rows.length - 1);
}

function matches(row) {
  const kind = $("#console-kind").value;
  const text = $("#console-filter").value.trim().toLowerCase();
  return (!kind || row.dataset.kind === kind) && (!text || row.textContent.toLowerCase().includes(text));
}

function applyFilter() {
  for (const row of $("#console-table tbody").rows) row.hidden = !matches(row);
}

function consoleState(connection) {
  if (connection) state.connection = connection;
  const parts = [state.connection || ""];
  if (state.paused) parts.push(`paused, ${state.held.length} held` + (state.skipped ? `, ${state.skipped} skipped` : ""));
  if (state.serverDropped) parts.push(`${state.serverDropped} dropped by the server (the page fell behind)`);
  $("#console-state").textContent = parts.filter(Boolean).join(" · ");
}

function togglePause() {
  state.paused = !state.paused;
  const b = $("#console-pause");
  b.setAttribute("aria-pressed", String(state.paused));
  b.textContent = state.paused ? "Resume" : "Pause";
  if (!state.paused) {
    for (const record of state.held) addRow(record);
    state.held = [];
    state.skipped = 0;
  }
  consoleState();
}

// -- event creator ------------------------------------------------------------------

async function publish(event) {
  event.preventDefault();
  const out = $("#publish-status");
  if (!state.app) {
    out.textContent = "No app selected";
    return;
  }
  const payload = {
    channel: $("#publish-channel").value.trim(),
    event: $("#publish-event").value.trim(),
    data: $("#publish-data").value,
  };
  const reply = await api(appPath("/events"), { method: "POST", body: JSON.stringify(payload) });
  out.className = reply.ok ? "ok" : "bad";
  out.textContent = reply.ok
    ? `Published ${payload.event} on ${payload.channel} at ${new Date().toISOString().slice(11, 19)}`
    : `Not published: ${problem(reply)}`;
}

// -- webhooks -----------------------------------------------------------------------

async function loadWebhooks() {
  if (!state.app) return;
  const body = $("#webhooks-table tbody");
  const status = $("#webhooks-status");
  body.replaceChildren();
  const app = state.status ? state.status.apps.find((a) => a.id === state.app) : null;
  if (app && !app.webhooks) {
    $("#webhooks-table").hidden = true;
    status.textContent = `No webhooks configured for app ${state.app}.`;
    return;
  }
  const reply = await api(appPath("/webhooks/deliveries?limit=50"));
  $("#webhooks-table").hidden = !reply.ok;
  if (reply.status === 404 && !(reply.body && reply.body.error === "unknown app")) {
    status.textContent = `No webhooks configured for app ${state.app}.`;
    return;
  }
  if (!reply.ok) {
    status.textContent = `Could not read the delivery log: ${problem(reply)}`;
    return;
  }
  const deliveries = reply.body.deliveries || [];
  const summary = deliveries.length ? `${deliveries.length} recent deliveries` : "No delivery yet";
  status.textContent = state.webhookNote ? `${summary} · ${state.webhookNote}` : summary;
  for (const d of deliveries) {
    const row = document.createElement("tr");
    const when = d.last_attempt_at || d.created_at;
    cell(row, when ? new Date(when * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
    cell(row, d.url);
    cell(row, (d.event_names || []).join(", "));
    cell(row, d.attempts, "num");
    cell(row, d.status + (d.last_status_code ? ` (${d.last_status_code})` : ""), d.status === "failed" ? "bad" : "");
    cell(row, d.error || "");
    const actions = cell(row, "");
    actions.append(button("Redeliver", () => redeliver(d.id), { secondary: true, label: `Redeliver delivery ${d.id}` }));
    body.appendChild(row);
  }
}

async function redeliver(id) {
  const reply = await api(appPath(`/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`), { method: "POST", body: "{}" });
  state.webhookNote = reply.ok ? `delivery ${id} queued again` : `could not redeliver: ${problem(reply)}`;
  loadWebhooks();
}

// -- start --------------------------------------------------------------------------

$("#app-select").addEventListener("change", (e) => {
  state.app = e.target.value;
  $("#console-table tbody").replaceChildren();
  if (state.view === "console") openConsole();
  refresh();
});
$("#console-filter").addEventListener("input", applyFilter);
$("#console-kind").addEventListener("change", applyFilter);
$("#console-pause").addEventListener("click", togglePause);
$("#console-clear").addEventListener("click", () => $("#console-table tbody").replaceChildren());
$("#publish-form").addEventListener("submit", publish);
$("#app-create").addEventListener("submit", createApp);
window.addEventListener("hashchange", () => show(location.hash.slice(1)));

poll().then(() => show(location.hash.slice(1) || "overview"));
setInterval(() => {
  poll();
  if (state.view === "channels") loadChannels();
  if (state.view === "webhooks") loadWebhooks();
}, 2000);
