// sessionflow dashboard: reads the read API with the key from the URL fragment (#key=...) or
// asked once per tab, and draws its series with Chart.js (served by the API, pinned version).
"use strict";

const EVENT_TYPES = ["play", "ping", "pauseStart", "bufferStart", "sessionComplete", "error"];
const QOE_METRICS = ["startup_time_ms", "played_seconds", "rebuffer_ratio", "completion_rate",
  "exit_before_start_rate"];
const COLORS = ["#3b6fd8", "#e07b39", "#4aa96c", "#c94f7c", "#8a63d2", "#b8a12d"];
const charts = {};
const $ = (id) => document.getElementById(id);

function apiKey(forget) {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("sessionflow-key", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (forget) sessionStorage.removeItem("sessionflow-key");
  let key = sessionStorage.getItem("sessionflow-key");
  if (!key) {
    key = (prompt("sessionflow read API key") || "").trim();
    if (key) sessionStorage.setItem("sessionflow-key", key);
  }
  return key;
}

function endingAt(offset, unit = "hour") {
  // The end of the current hour (or minute), written in the chosen offset (the series' time
  // zone): the last bucket is the one in progress, never one still to come.
  const minutes = offset === "Z" ? 0 : (offset[0] === "-" ? -1 : 1) *
    (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  const shifted = new Date(Date.now() + minutes * 60000);
  if (unit === "minute") shifted.setUTCSeconds(59, 0);
  else shifted.setUTCMinutes(59, 59, 0);
  return shifted.toISOString().slice(0, 19) + (offset === "Z" ? "Z" : offset);
}

async function series(path, params) {
  const response = await fetch(path + "?" + new URLSearchParams(params), {
    headers: { Authorization: "Bearer " + window.sessionflowKey },
  });
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(`${path}: ${response.status} ${body.message}: ${(body.errors || []).join("; ")}`);
    error.status = response.status;
    throw error;
  }
  return body.data;
}

function draw(id, type, labels, datasets) {
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets = datasets;
    charts[id].update();
    return;
  }
  charts[id] = new Chart($(id), {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
    },
  });
}

const label = (time, unit) => (unit === "day" ? time.slice(0, 10)
  : unit === "minute" ? time.slice(11, 16) : time.slice(5, 16).replace("T", " "));
const sum = (values) => values.reduce((a, b) => a + b, 0);

async function load() {
  const unit = $("unit").value;
  const offset = $("offset").value;
  const common = { unit, length: $("length").value, ending_at: endingAt(offset) };
  if ($("app").value.trim()) common.app_id = $("app").value.trim();
  const sessionParams = { ...common };
  if ($("segment").value.trim()) sessionParams.segment_id = $("segment").value.trim();
  const dayParams = { ...common, unit: "day", length: 30 };
  // Ends with the minute in progress: its value is "now" (the hour's end would add minutes
  // still to come, all 0).
  const concurrentParams = { ...common, unit: "minute", length: 60, ending_at: endingAt(offset, "minute") };
  window.dashboardQuery = {
    sessions: sessionParams, events: common, dau: dayParams, concurrent: concurrentParams,
  };
  $("status").textContent = "loading…";
  $("status").className = "";
  try {
    const [sessions, dau, concurrent, ...rest] = await Promise.all([
      series("/sessions/data_series", sessionParams),
      series("/kpi/dau/data_series", dayParams),
      series("/kpi/concurrent/data_series", concurrentParams),
      ...EVENT_TYPES.map((event) => series("/events/data_series", { ...common, event })),
      ...QOE_METRICS.map((metric) => series("/kpi/qoe/data_series", { ...common, metric })),
    ]);
    const events = rest.slice(0, EVENT_TYPES.length);
    const qoe = Object.fromEntries(QOE_METRICS.map((m, i) => [m, rest[EVENT_TYPES.length + i]]));
    const labels = sessions.map((item) => label(item.time, unit));
    const counts = sessions.map((item) => item.sessions);
    draw("sessions", "bar", labels, [{ label: "sessions", data: counts, backgroundColor: COLORS[0] }]);
    $("sessions-total").value = `${sum(counts)} in ${counts.length} ${unit}s`;
    draw("events", "line", labels, events.map((data, i) => ({
      label: EVENT_TYPES[i], data: data.map((item) => item.count), borderColor: COLORS[i],
      backgroundColor: COLORS[i], tension: 0.2, pointRadius: 1,
    })));
    const eventTotal = sum(events.map((data) => sum(data.map((item) => item.count))));
    $("events-total").value = `${eventTotal} events of the types shown`;
    const dauCounts = dau.map((item) => item.dau);
    draw("dau", "bar", dau.map((item) => label(item.time, "day")),
      [{ label: "DAU", data: dauCounts, backgroundColor: COLORS[2] }]);
    $("dau-total").value = `today ${dauCounts[dauCounts.length - 1] ?? 0}`;
    const viewers = concurrent.map((item) => item.viewers);
    draw("concurrent", "line", concurrent.map((item) => label(item.time, "minute")),
      [{ label: "viewers", data: viewers, borderColor: COLORS[4], backgroundColor: COLORS[4],
         stepped: true, pointRadius: 0 }]);
    $("concurrent-total").value = `now ${viewers[viewers.length - 1] ?? 0}, peak ${Math.max(0, ...viewers)}`;
    // Rates and the startup time on one chart (ratios in %, startup in seconds).
    const asPercent = (data) => data.map((item) => (item.value === null ? null : item.value * 100));
    draw("qoe", "line", labels, [
      { label: "startup time (s)", data: qoe.startup_time_ms.map((item) => (item.value === null ? null : item.value / 1000)),
        borderColor: COLORS[0], backgroundColor: COLORS[0], spanGaps: true },
      { label: "rebuffer ratio (%)", data: asPercent(qoe.rebuffer_ratio), borderColor: COLORS[1], backgroundColor: COLORS[1], spanGaps: true },
      { label: "completion (%)", data: asPercent(qoe.completion_rate), borderColor: COLORS[2], backgroundColor: COLORS[2], spanGaps: true },
      { label: "exit before start (%)", data: asPercent(qoe.exit_before_start_rate), borderColor: COLORS[3], backgroundColor: COLORS[3], spanGaps: true },
    ]);
    const rows = QOE_METRICS.map((metric) => {
      const known = qoe[metric].filter((item) => item.value !== null);
      const last = known.length ? known[known.length - 1].value : null;
      return `<tr><td>${metric}</td><td data-metric="${metric}">${last === null ? "–" : Number(last.toFixed(4))}</td></tr>`;
    });
    document.querySelector("#qoe-table tbody").innerHTML = rows.join("");
    $("qoe-total").value = `played ${Math.round(qoe.played_seconds.reduce((a, item) => a + (item.value || 0), 0))} s`;
    window.dashboardQuery.qoe = common;
    window.dashboardData = { sessions, dau, concurrent, qoe, events: Object.fromEntries(EVENT_TYPES.map((e, i) => [e, events[i]])) };
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.state = "ready";
  } catch (error) {
    $("status").textContent = error.message;
    $("status").className = "error";
    document.body.dataset.state = "error";
    if (error.status === 401) window.sessionflowKey = apiKey(true);
  }
}

window.sessionflowKey = apiKey(false);
for (const id of ["unit", "offset", "refresh"]) $(id).addEventListener(id === "refresh" ? "click" : "change", load);
for (const id of ["length", "app", "segment"]) $(id).addEventListener("change", load);
load();
setInterval(load, 30000);
