// tapedeck console: everything shown comes from the JSON API (/api/v1/...).
// Names of streams and errors come from clients: they are only ever put
// in the page as text (el() below), never as HTML.
"use strict";

const POLL_MS = 2000;
const state = { csrf: "", auth: "", timer: 0, lives: new Map(), recs: [], vodHls: null, zoom: false };

// ---------- small helpers ----------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
}
const $ = (id) => document.getElementById(id);
const enc = (p) => p.split("/").map(encodeURIComponent).join("/");

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function bits(bps) {
  if (!bps) return "–";
  return bps >= 1e6 ? (bps / 1e6).toFixed(2) + " Mbit/s" : (bps / 1e3).toFixed(0) + " kbit/s";
}
function dur(s) {
  if (!s && s !== 0) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + x + "s";
}
// codecName spells the API's FourCC the way people say it.
const CODECS = { avc1: "H.264", hvc1: "H.265", hev1: "H.265", av01: "AV1", vp09: "VP9", mp4a: "AAC", Opus: "Opus", ".mp3": "MP3" };
const codecName = (c) => (c ? (CODECS[c] ? CODECS[c] + " (" + c + ")" : c) : "–");
const hhmmss = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const rfc3339 = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

// api fetches a JSON endpoint; a 401 shows the sign-in form.
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers);
  if (opts.method && opts.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method: opts.method || "GET", headers, credentials: "same-origin",
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  if (resp.status === 401 && !opts.login) {
    showLogin();
    throw new Error("sign in required");
  }
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) throw new Error((data && data.error) || resp.status + " " + resp.statusText);
  return data;
}

// ---------- sign-in ----------

function showLogin() {
  stopPolling();
  for (const v of state.lives.values()) v.destroy();
  state.lives.clear();
  // Nothing of what the signed-in page showed stays in it.
  for (const id of ["streams", "rec-stream", "timeline", "storage", "uploads"]) $(id).replaceChildren();
  $("uploads-panel").hidden = true;
  $("recordings").tBodies[0].replaceChildren();
  $("pulls").tBodies[0].replaceChildren();
  $("rec-info").textContent = "";
  if (state.vodHls) { state.vodHls.destroy(); state.vodHls = null; }
  $("player").removeAttribute("src");
  $("player").hidden = true;
  state.recs = [];
  $("app").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("status").textContent = "";
  $("login").hidden = false;
}

function setupLogin() {
  const form = $("login-form");
  let useToken = false;
  $("login-switch").addEventListener("click", () => {
    useToken = !useToken;
    $("login-password").hidden = useToken;
    $("login-token").hidden = !useToken;
    for (const i of $("login-password").querySelectorAll("input")) i.required = !useToken;
    form.token.required = useToken;
    $("login-switch").textContent = useToken ? "Use a user name and password" : "Use the API token instead";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    const body = useToken ? { token: form.token.value } : { user: form.user.value, password: form.password.value };
    try {
      const s = await api("/api/v1/login", { method: "POST", body, login: true });
      form.password.value = "";
      form.token.value = "";
      enter(s);
    } catch (e) {
      $("login-error").textContent = e.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("/api/v1/logout", { method: "POST" }); } catch (_) { /* signed out anyway */ }
    state.csrf = "";
    showLogin();
  });
}

function enter(session) {
  state.csrf = session.csrf || "";
  state.auth = session.auth;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = session.auth !== "session";
  $("who").textContent = session.user ? "signed in as " + session.user : "";
  startPolling();
  loadRecordings();
}

// ---------- live streams ----------

// nativeHLS: Safari and every iOS browser (WebKit) play HLS themselves,
// LL-HLS included; elsewhere hls.js does, over Media Source Extensions,
// also where a browser now claims native HLS (recent Chromium), whose
// low-latency support is not that of hls.js.
const appleWebKit = /Apple/.test(navigator.vendor || "");
function nativeHLS(video) {
  const can = !!video.canPlayType("application/vnd.apple.mpegurl");
  return can && (appleWebKit || !(window.Hls && Hls.isSupported()));
}

// attachHLS plays an HLS URL in a <video>. onFail is told why it cannot
// play; a failure of the network (a muxer still starting, the box
// restarting) is retried a few times first.
function attachHLS(video, url, lowLatency, onFail) {
  if (nativeHLS(video)) {
    video.src = url;
    video.addEventListener("error", () => onFail("the browser could not play " + url), { once: true });
    return { destroy() { video.removeAttribute("src"); video.load(); }, native: true };
  }
  if (!window.Hls || !Hls.isSupported()) {
    onFail("this browser plays neither HLS nor Media Source Extensions");
    return { destroy() {} };
  }
  // Live, a player that fell behind (a stall on a busy box or network)
  // plays up to 1.5× until it is back at its target latency, rather than
  // staying behind for the rest of the view.
  const hls = new Hls({ lowLatencyMode: lowLatency, backBufferLength: 30, maxBufferLength: 10,
    maxLiveSyncPlaybackRate: lowLatency ? 1.5 : 1 });
  let retries = 0;
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (!d.fatal) return;
    const code = d.response && d.response.code;
    if (code === 401) { showLogin(); return; }
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
    if (d.type === Hls.ErrorTypes.NETWORK_ERROR && code !== 404 && retries++ < 5) {
      setTimeout(() => hls.startLoad(), 2000);
      return;
    }
    onFail(code === 404 ? "no HLS for this stream (404)" : "HLS: " + d.details);
    hls.stopLoad();
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return hls;
}

function streamCard(s) {
  const key = s.app + "/" + s.name;
  const video = el("video", { muted: true, autoplay: true, playsinline: true, "data-live": key });
  video.muted = true;
  const note = el("p", { class: "muted small" });
  const facts = el("dl", { class: "facts" });
  const relays = el("div");
  const card = el("article", { class: "card stream", "data-stream": key },
    el("h3", {}, key), el("div", { class: "preview" }, video), note, facts, relays);
  const url = "/hls/" + enc(s.app) + "/" + enc(s.name) + "/index.m3u8";
  const player = attachHLS(video, url, true, (why) => { note.textContent = "Live view unavailable: " + why; });
  const entry = { card, video, facts, relays, note, player, destroy() { player.destroy(); card.remove(); } };
  state.lives.set(key, entry);
  return entry;
}

function fact(dl, name, value, cls) {
  dl.append(el("dt", {}, name), el("dd", { class: cls }, value));
}

function renderStreams(list) {
  const live = list.filter((s) => s.publishing);
  $("streams-empty").hidden = live.length > 0;
  const seen = new Set();
  for (const s of live) {
    const key = s.app + "/" + s.name;
    seen.add(key);
    const c = state.lives.get(key) || streamCard(s);
    if (!c.card.isConnected) $("streams").append(c.card);
    c.facts.replaceChildren();
    fact(c.facts, "Video", [codecName(s.video_codec), s.width ? s.width + "×" + s.height : "", s.fps ? Math.round(s.fps) + " fps" : ""].filter(Boolean).join(" "));
    fact(c.facts, "Audio", codecName(s.audio_codec));
    fact(c.facts, "Bitrate", bits(s.bitrate_in_bps));
    fact(c.facts, "Players", String(s.players));
    fact(c.facts, "Keyframe skips", String(s.skips), s.skips ? "warn" : "");
    fact(c.facts, "Source", s.source || "–");
    const r = s.recording;
    if (r) {
      const st = r.paused ? "paused (disk full or failing)" : "recording";
      fact(c.facts, "Recorder", st + ", " + r.segments + " segments, " + bytes(r.bytes), r.paused ? "bad" : "ok");
      if (r.write_errors) fact(c.facts, "Write errors", String(r.write_errors), "bad");
      if (r.skips) fact(c.facts, "Disk skips", String(r.skips), "warn");
    } else {
      fact(c.facts, "Recorder", "not recording");
    }
    c.relays.replaceChildren();
    if (s.relays && s.relays.length) {
      const tb = el("tbody");
      for (const t of s.relays) {
        tb.append(el("tr", {}, el("td", {}, t.Name || "–"), el("td", { class: "url" }, t.URL),
          el("td", { class: t.State === "live" ? "ok" : "warn" }, t.State), el("td", {}, String(t.Retries)),
          el("td", { class: "bad" }, t.LastError || "")));
      }
      c.relays.append(el("h4", {}, "Push targets"), el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "URL"), el("th", {}, "State"), el("th", {}, "Retries"), el("th", {}, "Last error"))), tb)));
    }
  }
  for (const [key, c] of state.lives) {
    if (!seen.has(key)) { c.destroy(); state.lives.delete(key); }
  }
  updateStreamChoices(list.map((s) => s.app + "/" + s.name));
}

function renderPulls(list) {
  const t = $("pulls");
  $("pulls-empty").hidden = list.length > 0;
  t.hidden = list.length === 0;
  t.tBodies[0].replaceChildren(...list.map((p) => el("tr", {},
    el("td", {}, p.app + "/" + p.stream), el("td", { class: "url" }, p.kind + " " + p.url),
    el("td", { class: p.state === "live" ? "ok" : "warn" }, p.state + (p.on_demand ? " (on demand)" : "")),
    el("td", {}, p.since ? hhmmss(new Date(p.since)) : ""), el("td", {}, String(p.retries)),
    el("td", { class: "bad" }, p.last_error || ""))));
}

function renderStorage(s) {
  const dl = $("storage");
  dl.replaceChildren();
  fact(dl, "Directory", s.dir);
  fact(dl, "Free", bytes(s.free_bytes));
  fact(dl, "Free-space floor", s.min_free);
  fact(dl, "Retention", [s.max_age_seconds ? "max age " + dur(s.max_age_seconds) : "", s.max_bytes ? "max " + bytes(s.max_bytes) : ""].filter(Boolean).join(", ") || "off");
  for (const a of s.apps || []) {
    fact(dl, "Retention of " + a.app, [a.max_age_seconds ? "max age " + dur(a.max_age_seconds) : "", a.max_bytes ? "max " + bytes(a.max_bytes) : ""].filter(Boolean).join(", "));
  }
  fact(dl, "Deleted by retention", String(s.retention_deleted));
  const r = s.recorders;
  fact(dl, "Recorders", r.active + " running, " + bytes(r.bytes) + " written");
  fact(dl, "Recorder state", r.paused ? "paused: disk full or failing" : "ok", r.paused ? "bad" : "ok");
  fact(dl, "Write errors", String(r.write_errors), r.write_errors ? "bad" : "");
  if (r.dropped) fact(dl, "Dropped messages", String(r.dropped), "warn");
  if (r.slow_syncs) fact(dl, "Slow flushes", String(r.slow_syncs), "warn");
}

// renderUploads shows GET /api/v1/uploads, only where some app uploads.
// The last error comes with its credentials already scrubbed by the box.
function renderUploads(u) {
  $("uploads-panel").hidden = !u.enabled;
  const dl = $("uploads");
  dl.replaceChildren();
  if (!u.enabled) return;
  fact(dl, "Backlog", u.pending + " segments, " + bytes(u.pending_bytes), u.pending ? "warn" : "ok");
  fact(dl, "Oldest pending", u.pending ? dur(u.oldest_pending_seconds) : "–");
  fact(dl, "Upload rate", bytes(Math.round(u.rate_bytes_per_second || 0)) + "/s");
  fact(dl, "Uploaded", u.uploaded + " segments, " + bytes(u.uploaded_bytes));
  const reasons = Object.keys(u.failures || {}).sort().filter((k) => u.failures[k]);
  fact(dl, "Failures", reasons.length ? reasons.map((k) => k + " " + u.failures[k]).join(", ") : "none", reasons.length ? "warn" : "");
  const e = u.last_error;
  fact(dl, "Last error", e ? hhmmss(new Date(e.time)) + " " + (e.message.startsWith(e.reason + ":") ? "" : e.reason + ": ") + e.message + (e.path ? " (" + e.path + ")" : "") : "none", e ? "bad" : "");
  fact(dl, "Lost before upload", u.lost + " segments, " + bytes(u.lost_bytes), u.lost ? "bad" : "");
}

async function poll() {
  if (document.hidden) return;
  try {
    const [streams, pulls, storage, uploads] = await Promise.all([api("/api/v1/streams"), api("/api/v1/pulls"),
      api("/api/v1/storage"), api("/api/v1/uploads")]);
    renderStreams(streams);
    renderPulls(pulls);
    renderStorage(storage);
    renderUploads(uploads);
    $("status").textContent = "updated " + hhmmss(new Date());
    $("status").className = "muted";
  } catch (e) {
    $("status").textContent = "not updated: " + e.message;
    $("status").className = "error";
  }
}
function startPolling() { stopPolling(); poll(); state.timer = setInterval(poll, POLL_MS); }
function stopPolling() { clearInterval(state.timer); state.timer = 0; }

// ---------- recordings ----------

function updateStreamChoices(names) {
  const sel = $("rec-stream");
  const have = new Set([...sel.options].map((o) => o.value));
  for (const n of names) if (!have.has(n)) { sel.append(el("option", { value: n }, n)); have.add(n); }
  if (!sel.value && sel.options.length) { sel.value = sel.options[0].value; loadRecordings(); }
}

function dayRange() {
  const v = $("rec-day").value;
  const [y, m, d] = v.split("-").map(Number);
  const from = new Date(y, m - 1, d);
  const to = new Date(y, m - 1, d + 1);
  return { from, to };
}

async function loadStreamNames() {
  // Every stream with recordings, live or not.
  const all = await api("/api/v1/recordings?from=" + rfc3339(dayRange().from) + "&to=" + rfc3339(dayRange().to));
  updateStreamChoices([...new Set(all.map((r) => r.app + "/" + r.stream))]);
}

async function loadRecordings() {
  const sel = $("rec-stream").value;
  const { from, to } = dayRange();
  if (!sel) { try { await loadStreamNames(); } catch (_) { /* shown on poll */ } return; }
  const [app, ...rest] = sel.split("/");
  const stream = rest.join("/");
  let list = [];
  try {
    list = await api("/api/v1/recordings?app=" + encodeURIComponent(app) + "&stream=" + encodeURIComponent(stream) +
      "&from=" + rfc3339(from) + "&to=" + rfc3339(to));
  } catch (e) {
    $("rec-info").textContent = "Recordings not loaded: " + e.message;
    return;
  }
  // A closed segment's length can be unknown for a while (the box reads
  // it from the file, within a time budget, under load): until a later
  // listing has it, the segment is taken to run until the next begins,
  // so that its block can be seen and clicked and a click in it plays it.
  state.recs = list.map((r, i) => {
    const start = new Date(r.start);
    const next = list[i + 1] ? new Date(list[i + 1].start) : new Date();
    const end = r.duration_seconds ? new Date(start.getTime() + r.duration_seconds * 1000) : (r.open ? new Date() : next);
    return Object.assign({}, r, { startD: start, endD: end < start ? start : end });
  });
  renderTimeline();
  renderRecordingList(app, stream);
}

// viewRange is the span the timeline shows: the whole day, or zoomed to
// what was recorded on it.
function viewRange() {
  const day = dayRange();
  if (!state.zoom || !state.recs.length) return day;
  let a = Math.min(...state.recs.map((r) => r.startD.getTime()));
  let b = Math.max(...state.recs.map((r) => r.endD.getTime()));
  const pad = Math.max(10000, (b - a) * 0.05);
  a = Math.max(day.from.getTime(), a - pad);
  b = Math.min(day.to.getTime(), b + pad);
  return { from: new Date(a), to: new Date(b) };
}

const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];

function renderTimeline() {
  const tl = $("timeline");
  const { from, to } = viewRange();
  const span = to - from;
  const step = (TICK_STEPS.find((s) => span / 1000 / s <= 8) || 21600) * 1000;
  const ticks = el("div", { class: "ticks" });
  for (let t = Math.ceil(from / step) * step; t <= to.getTime(); t += step) {
    const d = new Date(t);
    const label = step < 60000 ? hhmmss(d) : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    const tick = el("span", { class: "tick" }, label);
    tick.style.left = ((t - from) / span) * 100 + "%";
    ticks.append(tick);
  }
  const blocks = state.recs.map((r) => {
    const a = Math.max(0, (r.startD - from) / span), b = Math.min(1, (r.endD - from) / span);
    const blk = el("div", { class: "seg" + (r.open ? " open" : "") + (r.recovery ? " damaged" : ""), "data-path": r.path,
      title: hhmmss(r.startD) + " – " + hhmmss(r.endD) + (r.open || r.duration_seconds ? "" : " (length not known yet)") +
        (r.recovery ? " (" + r.recovery + ")" : "") });
    blk.style.left = a * 100 + "%";
    blk.style.width = Math.max(0.2, (b - a) * 100) + "%";
    return blk;
  });
  tl.replaceChildren(ticks, ...blocks);
  let total = 0, gaps = 0;
  for (let i = 0; i < state.recs.length; i++) {
    total += (state.recs[i].endD - state.recs[i].startD) / 1000;
    if (i && state.recs[i].startD - state.recs[i - 1].endD > 2000) gaps++;
  }
  $("rec-info").textContent = state.recs.length
    ? state.recs.length + " segments, " + dur(total) + " recorded, " + gaps + " gaps"
    : "No recordings on this day.";
}

function renderRecordingList(app, stream) {
  const tb = $("recordings").tBodies[0];
  tb.replaceChildren(...state.recs.map((r) => {
    const file = "/api/v1/recordings/" + enc(r.path);
    const del = el("button", { type: "button", class: "danger", disabled: r.open, title: r.open ? "being written" : "delete this file",
      onclick: async () => {
        if (!confirm("Delete the recording of " + r.startD.toLocaleString() + "?")) return;
        try { await api(file, { method: "DELETE" }); loadRecordings(); } catch (e) { alert("Not deleted: " + e.message); }
      } }, "Delete");
    return el("tr", {},
      el("td", {}, r.startD.toLocaleString()), el("td", {}, r.open ? "recording…" : dur(r.duration_seconds)),
      el("td", {}, bytes(r.bytes)), el("td", {}, r.format + (r.recovery ? " (" + r.recovery + ")" : "")),
      el("td", { class: "actions" },
        el("button", { type: "button", onclick: () => playAt(app, stream, r.startD) }, "Play"),
        el("a", { href: file, download: r.path.split("/").pop(), class: "button" }, "Download"), del));
  }));
}

function recordingAt(t) {
  return state.recs.find((r) => r.startD <= t && t < r.endD) || state.recs.find((r) => r.startD >= t);
}

// playAt plays the stream's recordings from moment t: the VOD playlist
// across segments; where the box serves no HLS, the file holding t.
async function playAt(app, stream, t) {
  const rec = recordingAt(t);
  if (!rec) { $("rec-info").textContent = "Nothing recorded at or after " + hhmmss(t) + "."; return; }
  if (t < rec.startD) t = rec.startD;
  const player = $("player");
  player.hidden = false;
  if (state.vodHls) { state.vodHls.destroy(); state.vodHls = null; }
  player.removeAttribute("src");
  const end = dayRange().to;
  const url = "/hls/vod/" + enc(app) + "/" + enc(stream) + "/index.m3u8?start=" + encodeURIComponent(rfc3339(t)) + "&end=" + encodeURIComponent(rfc3339(end));
  let hasVOD = false;
  try { hasVOD = (await fetch(url, { credentials: "same-origin" })).ok; } catch (_) { /* no VOD */ }
  player.dataset.playing = rfc3339(t);
  if (hasVOD) {
    player.dataset.source = "vod";
    const h = attachHLS(player, url, false, (why) => { $("rec-info").textContent = "Playback failed: " + why; });
    if (!h.native) {
      state.vodHls = h;
      // The playlist may begin at the segment holding t: seek by its
      // program date-time when it has one.
      h.on(Hls.Events.LEVEL_LOADED, (_, d) => {
        const f = d.details.fragments[0];
        if (f && f.programDateTime) {
          const off = (t.getTime() - f.programDateTime) / 1000;
          if (off > 0.5) player.currentTime = off;
        }
      });
    }
  } else if (rec.format !== "flv") {
    player.dataset.source = "file";
    player.src = "/api/v1/recordings/" + enc(rec.path);
    const off = (t - rec.startD) / 1000;
    player.addEventListener("loadedmetadata", () => { if (off > 0.5) player.currentTime = off; }, { once: true });
  } else {
    $("rec-info").textContent = "FLV recordings play through the VOD playlist only; download the file instead.";
    return;
  }
  player.play().catch(() => { /* autoplay refused: the controls remain */ });
  player.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function setupRecordings() {
  const day = $("rec-day");
  const now = new Date();
  day.value = now.getFullYear() + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-" + String(now.getDate()).padStart(2, "0");
  day.addEventListener("change", loadRecordings);
  $("rec-stream").addEventListener("change", loadRecordings);
  const shift = (n) => {
    const { from } = dayRange();
    const d = new Date(from.getFullYear(), from.getMonth(), from.getDate() + n);
    day.value = d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
    loadRecordings();
  };
  $("rec-zoom").addEventListener("click", () => {
    state.zoom = !state.zoom;
    $("rec-zoom").textContent = state.zoom ? "Whole day" : "Zoom to recordings";
    renderTimeline();
  });
  $("rec-prev").addEventListener("click", () => shift(-1));
  $("rec-next").addEventListener("click", () => shift(1));
  $("timeline").addEventListener("click", (ev) => {
    const box = ev.currentTarget.getBoundingClientRect();
    const { from, to } = viewRange();
    const t = new Date(from.getTime() + ((ev.clientX - box.left) / box.width) * (to - from));
    const sel = $("rec-stream").value;
    if (!sel) return;
    const [app, ...rest] = sel.split("/");
    playAt(app, rest.join("/"), t);
  });
  // New segments appear as they are written.
  setInterval(() => { if (!$("app").hidden && !document.hidden) loadRecordings(); }, 15000);
}

// ---------- start ----------

// tapedeckHls returns the hls.js player of a live stream ("app/name"), or
// undefined: the browser test reads its playingDate (the program
// date-time on screen) to measure glass-to-glass latency.
window.tapedeckHls = (key) => { const e = state.lives.get(key); return e && !e.player.native ? e.player : undefined; };

async function main() {
  setupLogin();
  setupRecordings();
  try {
    enter(await api("/api/v1/session"));
  } catch (_) {
    // 401: the sign-in form is shown.
  }
}
main();
