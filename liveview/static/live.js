// The trainers' live view: plain JavaScript, no library, nothing fetched from the internet.
// Data: /api/topology and /api/snapshot once, then the server-sent events of /api/events.
// The admin token lives in this page's memory only (never in its code or storage).
"use strict";

const params = new URLSearchParams(location.search);
// Above this many exchanges a second the map stops drawing each one and draws one beam per
// province and database instead. Measured (benchmarks/liveview_draw.py, headless chromium,
// 1280x720, a 2-core machine at load 12): at 100/s the page keeps ~60 frames/s and spends 4 %
// of its main thread on exchanges; at 200/s frames fall to ~37/s and records start to drop.
const AGGREGATE_ABOVE = Number(params.get("aggregate_above") || 100);
const DRAW = params.get("draw") || "auto"; // auto | each | aggregate (benchmarks force one)
const TRAVEL_MS = 1100;
const RECENT = 25;
const COLOURS = { ok: "#178a3a", degraded: "#d97706", failed: "#c81e1e", rejected: "#2563eb", refused: "#7c3aed" };

// Every message once, in English and Vietnamese side by side: a key cannot lack a translation.
const MESSAGES = {
  title: ["NDXP live view", "Giám sát NDXP trực tiếp"],
  skip: ["Skip to the panels", "Chuyển tới các bảng"],
  connecting: ["connecting…", "đang kết nối…"],
  live: ["live", "trực tiếp"],
  lost: ["reconnecting…", "đang kết nối lại…"],
  modeEach: ["each exchange drawn", "vẽ từng lượt trao đổi"],
  modeAggregate: ["aggregated (too many to draw each)", "gộp (quá nhiều để vẽ từng lượt)"],
  adminToken: ["Admin token", "Mã quản trị"],
  tokenHint: ["for scenarios and quotas", "cho kịch bản và hạn mức"],
  use: ["Use", "Dùng"],
  topology: ["Topology", "Sơ đồ kết nối"],
  mapLabel: ["Provinces' one-stop systems, NDXP gateway, national databases", "HTTT giải quyết TTHC cấp tỉnh, nền tảng NDXP, các CSDL quốc gia"],
  figures: ["Figures", "Số liệu"],
  dbCaption: ["National databases, last minute", "CSDL quốc gia, một phút gần nhất"],
  database: ["Database", "CSDL"],
  health: ["Health", "Tình trạng"],
  exchanges: ["Exchanges", "Lượt"],
  failures: ["Failures", "Lỗi"],
  byOutcome: ["By outcome", "Theo kết quả"],
  byFailureMode: ["By failure mode", "Theo dạng lỗi"],
  panels: ["Panels", "Các bảng"],
  tabSelection: ["Selection", "Đang chọn"],
  tabFlow: ["Flow runner", "Chạy quy trình"],
  tabScenarios: ["Scenarios", "Kịch bản"],
  tabQuotas: ["Quotas", "Hạn mức"],
  province: ["Province", "Tỉnh"],
  none: ["—", "—"],
  time: ["Time", "Giờ"],
  who: ["Province / service", "Tỉnh / dịch vụ"],
  status: ["Status", "Mã"],
  outcome: ["Outcome", "Kết quả"],
  record: ["Exchange record", "Bản ghi trao đổi"],
  pickSomething: ["Select a province (click its tile) or a database to see its last exchanges.", "Chọn một tỉnh (bấm vào ô) hoặc một CSDL để xem các lượt trao đổi gần nhất."],
  flow: ["Flow", "Quy trình"],
  start: ["Start", "Bắt đầu"],
  next: ["Next hop", "Bước tiếp"],
  runToEnd: ["Run to the end", "Chạy đến hết"],
  needsToken: ["Type the admin token above first.", "Nhập mã quản trị ở trên trước."],
  scenario: ["Scenario", "Kịch bản"],
  switch: ["Switch", "Chuyển"],
  baseline: ["Baseline", "Bình thường"],
  faultClock: ["Fault clock (Asia/Ho_Chi_Minh)", "Đồng hồ lỗi (giờ Việt Nam)"],
  set: ["Set", "Đặt"],
  now: ["Now", "Hiện tại"],
  report: ["Current run's report", "Báo cáo lượt chạy hiện tại"],
  refresh: ["Refresh", "Làm mới"],
  failureMode: ["Failure mode", "Dạng lỗi"],
  timeouts: ["Timeouts", "Quá thời gian"],
  provinces: ["Provinces", "Tỉnh"],
  gateway: ["NDXP gateway", "Nền tảng NDXP"],
  gatewaySub: ["Nền tảng NDXP", "NDXP gateway"],
  lgsp: ["LGSP", "LGSP"],
  oneStop: ["one-stop system", "HTTT một cửa"],
  legend: ["Legend", "Chú giải"],
  o_ok: ["ok", "thành công"],
  o_degraded: ["answered, data spoiled", "có trả lời, dữ liệu hỏng/thiếu"],
  o_failed: ["database failed", "CSDL lỗi"],
  o_rejected: ["refused by the database (4xx)", "CSDL từ chối (4xx)"],
  o_refused: ["refused by NDXP", "NDXP từ chối"],
  h_up: ["up", "tốt"],
  h_degraded: ["degraded", "suy giảm"],
  h_failing: ["failing", "lỗi nặng"],
  h_idle: ["idle", "không có lượt"],
  h_down: ["down", "ngừng"],
  probe: ["probe", "kiểm tra"],
  lastOf: ["Last exchanges of", "Các lượt gần nhất của"],
  hop: ["Hop", "Bước"],
  attempt: ["attempt", "lần thử"],
  quotaLeft: ["quota left", "hạn mức còn"],
  exchange: ["exchange", "mã trao đổi"],
  retryIn: ["SDK retries in", "SDK thử lại sau"],
  after: ["after", "sau lỗi"],
  breakerOf: ["breaker of", "cầu dao của"],
  givesUp: ["SDK gives up after", "SDK dừng sau"],
  attempts: ["attempt(s)", "lần thử"],
  notSent: ["not sent, quota reserve kept", "không gửi, giữ hạn mức dự phòng"],
  missingFields: ["missing or broken fields flagged by NDXP", "trường thiếu hoặc sai do NDXP đánh dấu"],
  origin_gateway: ["NDXP refused it", "NDXP từ chối"],
  origin_database: ["passed on from the database", "lỗi từ CSDL, NDXP chuyển tiếp"],
  origin_sdk: ["the SDK's own verdict", "SDK tự quyết định"],
  waitingNext: ["Paused before the next hop: press Next.", "Đang dừng trước bước tiếp: bấm Bước tiếp."],
  running: ["Running…", "Đang chạy…"],
  finished: ["Finished", "Kết thúc"],
  token: ["token", "token"],
  tokenOk: ["token accepted", "mã hợp lệ"],
  tokenBad: ["token refused", "mã bị từ chối"],
  noRun: ["no run yet", "chưa có lượt chạy"],
  currentRun: ["Current run", "Lượt chạy hiện tại"],
  since: ["since", "từ"],
  switched: ["Switched to", "Đã chuyển sang"],
  clockSet: ["Fault clock set", "Đã đặt đồng hồ lỗi"],
  clockNow: ["Fault clock follows real time", "Đồng hồ lỗi theo giờ thực"],
  day: ["Day", "Ngày"],
  resetsIn: ["resets in", "đặt lại sau"],
  used: ["used", "đã dùng"],
  limit: ["limit", "hạn mức"],
  noLimit: ["no limit", "không giới hạn"],
  dropped: ["events missed by this page", "sự kiện trang này bỏ lỡ"],
  seed: ["seed", "seed"],
  total: ["total", "tổng"],
  retries: ["retries", "thử lại"],
  ofWhich: ["of which", "trong đó"],
  reportEmpty: ["No report yet.", "Chưa có báo cáo."],
  none_fm: ["no failure mode yet", "chưa có dạng lỗi"],
  selectedProvince: ["Province", "Tỉnh"],
  selectedDatabase: ["Database", "CSDL"],
};
const LANGUAGES = ["en", "vi"];

function messagesIn(language) {
  const index = LANGUAGES.indexOf(language);
  return Object.fromEntries(Object.entries(MESSAGES).map(([key, texts]) => [key, texts[index]]));
}

const I18N = Object.fromEntries(LANGUAGES.map((language) => [language, messagesIn(language)]));
const MEANINGS_VI = {
  upstream_timeout: "CSDL quốc gia không trả lời trong thời gian chờ của NDXP",
  upstream_unreachable: "NDXP không kết nối được tới CSDL quốc gia",
  upstream_reset: "CSDL quốc gia ngắt kết nối giữa chừng",
  upstream_overloaded: "CSDL quốc gia đang quá tải (503)",
  provider_overloaded: "CSDL quốc gia đang quá tải (503)",
  service_unavailable: "CSDL quốc gia tạm ngừng trả lời (503)",
  provider_maintenance: "CSDL quốc gia đang trong thời gian bảo trì",
  upstream_error: "CSDL quốc gia lỗi (5xx, NDXP chuyển tiếp)",
  provider_error: "CSDL quốc gia lỗi (5xx, NDXP chuyển tiếp)",
  quota_exceeded: "tỉnh đã dùng hết hạn mức trong ngày tại NDXP",
  unauthenticated: "NDXP từ chối thông tin xác thực hoặc token",
  forbidden: "tỉnh chưa đăng ký dịch vụ này",
  not_found: "CSDL quốc gia không có bản ghi này",
  circuit_open: "cầu dao của SDK đang mở: không gửi lời gọi",
  contract_violation: "có trả lời nhưng sai hợp đồng dữ liệu đã công bố",
};

const S = {
  lang: "en", token: null, topo: null, provinces: new Map(), databases: new Map(),
  recent: { province: new Map(), database: new Map() }, selected: null, flowRun: null,
  arrivals: [], mode: "each", particles: [], beams: new Map(), quotas: null, dropped: 0,
  tileCounts: new Map(), frames: 0, drawn: 0, received: 0, stats: null,
  busyMs: 0, // main-thread time spent drawing and taking records (the benchmark reads it)
};
window.__live = S; // for the browser tests and the benchmark

const $ = (sel) => document.querySelector(sel);
const t = (key) => (I18N[S.lang][key] ?? I18N.en[key] ?? key);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};
const fmt = (n) => (n == null ? "–" : Number(n).toLocaleString(S.lang === "vi" ? "vi-VN" : "en-GB"));
const ms = (n) => (n == null ? "–" : `${Math.round(n)}`);
const clock = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour12: false });

// ---------------------------------------------------------------- i18n
function applyLanguage() {
  document.documentElement.lang = S.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  const button = $("#lang");
  button.textContent = S.lang === "en" ? "Tiếng Việt" : "English";
  button.lang = S.lang === "en" ? "vi" : "en";
  button.setAttribute("aria-pressed", String(S.lang === "vi"));
  if (S.topo) { drawMap(); fillSelects(); renderStats(); renderSelection(); renderFlow(); renderQuotas(); }
  if (S.run !== undefined) renderRun(S.run);
  renderLegend(); renderMode();
}

// ---------------------------------------------------------------- topology
const GEO = { cols: 7, x0: 6, y0: 6, w: 64, h: 48, gap: 4, gw: { x: 540, y: 190, w: 120, h: 90 } };
function tileBox(index) {
  const col = index % GEO.cols, row = Math.floor(index / GEO.cols);
  return { x: GEO.x0 + col * (GEO.w + GEO.gap), y: GEO.y0 + row * (GEO.h + GEO.gap) };
}
function twoLines(name, width = 9) {
  // A tile's name on one line if it fits, else split where the longer half is shortest.
  if (name.length <= width) return [name];
  const words = name.split(" ");
  let best = [name], score = Infinity;
  for (let i = 1; i < words.length; i++) {
    const a = words.slice(0, i).join(" "), b = words.slice(i).join(" ");
    const s = Math.max(a.length, b.length);
    if (s < score) { score = s; best = [a, b]; }
  }
  return best;
}
function wrap(text, width) {
  const lines = [];
  for (const word of text.split(" ")) {
    const last = lines.length - 1;
    if (last >= 0 && (lines[last] + " " + word).length <= width) lines[last] += " " + word;
    else lines.push(word);
  }
  return lines;
}
function drawMap() {
  const map = $("#map");
  map.replaceChildren();
  const topo = S.topo;
  const hasLgsp = Object.keys(topo.lgsp).length > 0;
  const gw = GEO.gw, gx = gw.x + gw.w / 2, gy = gw.y + gw.h / 2;
  const dbs = topo.databases, dbGap = 470 / dbs.length;
  dbs.forEach((db, i) => {
    const cy = dbGap * i + dbGap / 2;
    S.databases.get(db.name).pos = { x: 702, y: cy };
    map.append(svg("path", { class: "link", d: `M${gw.x + gw.w} ${gy} L702 ${cy}` }));
  });
  map.append(svg("path", { class: "link", d: `M${GEO.x0 + GEO.cols * (GEO.w + GEO.gap)} ${gy} L${gw.x} ${gy}` }));
  if (hasLgsp) {
    const g = svg("g", { class: "node lgsp" });
    g.append(svg("rect", { x: 486, y: gy - 30, width: 44, height: 60, rx: 6 }));
    const label = svg("text", { x: 508, y: gy + 4, "text-anchor": "middle" }); label.textContent = t("lgsp");
    g.append(label); map.append(g);
  }
  topo.provinces.forEach((p, i) => {
    const box = tileBox(i);
    const state = S.provinces.get(p.code);
    state.pos = { x: box.x + GEO.w / 2, y: box.y + GEO.h / 2 };
    const g = svg("g", {
      class: "tile", role: "button", tabindex: i === 0 ? "0" : "-1", "data-code": p.code,
      "aria-pressed": String(S.selected?.kind === "province" && S.selected.key === p.code),
    });
    g.append(svg("rect", { class: "bg", x: box.x, y: box.y, width: GEO.w, height: GEO.h, rx: 4 }));
    const lines = twoLines(p.name);
    lines.forEach((line, j) => {
      const text = svg("text", { x: box.x + 4, y: box.y + 13 + j * 12 });
      text.textContent = line; g.append(text);
    });
    const count = svg("text", { class: "count", x: box.x + 4, y: box.y + GEO.h - 8 });
    g.append(count);
    g.append(svg("rect", { class: "quota-bg", x: box.x + 3, y: box.y + GEO.h - 5, width: GEO.w - 6, height: 3 }));
    const quota = svg("rect", { class: "quota", x: box.x + 3, y: box.y + GEO.h - 5, width: 0, height: 3 });
    g.append(quota);
    const flash = svg("rect", { class: "flash", x: box.x, y: box.y, width: GEO.w, height: GEO.h, rx: 4 });
    g.append(flash);
    state.node = g; state.countNode = count; state.quotaNode = quota; state.flashNode = flash;
    g.addEventListener("click", () => select("province", p.code));
    g.addEventListener("keydown", (event) => tileKey(event, i));
    map.append(g);
    renderTile(p.code);
  });
  const g = svg("g", { class: "node gateway" });
  g.append(svg("rect", { x: gw.x, y: gw.y, width: gw.w, height: gw.h }));
  const title = svg("text", { x: gx, y: gy - 4, "text-anchor": "middle", "font-weight": "bold" });
  title.textContent = t("gateway");
  const sub = svg("text", { x: gx, y: gy + 14, "text-anchor": "middle", class: "small" });
  sub.textContent = t("gatewaySub");
  g.append(title, sub); map.append(g);
  S.gatewayPos = { x: gx, y: gy };
  dbs.forEach((db) => {
    const state = S.databases.get(db.name);
    const { y } = state.pos;
    const node = svg("g", {
      class: "node database", role: "button", tabindex: "0", "data-db": db.name,
      "aria-pressed": String(S.selected?.kind === "database" && S.selected.key === db.name),
    });
    node.append(svg("rect", { x: 702, y: y - 44, width: 134, height: 88 }));
    const words = wrap(db[S.lang], 15).slice(0, 3);
    words.forEach((line, j) => {
      const text = svg("text", { x: 708, y: y - 28 + j * 13, "font-weight": "bold" });
      text.textContent = line; node.append(text);
    });
    const health = svg("circle", { class: "health idle", cx: 826, cy: y - 34, r: 6 });
    const figures = svg("text", { class: "small", x: 708, y: y + 20 });
    const figures2 = svg("text", { class: "small", x: 708, y: y + 35 });
    node.append(health, figures, figures2);
    state.healthNode = health; state.figNode = figures; state.fig2Node = figures2; state.node = node;
    node.addEventListener("click", () => select("database", db.name));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select("database", db.name); }
    });
    map.append(node);
  });
  renderDatabases();
  sizeCanvas();
}
function tileKey(event, index) {
  const n = S.topo.provinces.length;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: GEO.cols, ArrowUp: -GEO.cols, Home: -index, End: n - 1 - index };
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault(); select("province", S.topo.provinces[index].code); return;
  }
  if (!(event.key in moves)) return;
  event.preventDefault();
  const target = Math.min(n - 1, Math.max(0, index + moves[event.key]));
  const from = S.provinces.get(S.topo.provinces[index].code).node;
  const to = S.provinces.get(S.topo.provinces[target].code).node;
  from.setAttribute("tabindex", "-1"); to.setAttribute("tabindex", "0"); to.focus();
}
function renderTile(code) {
  const state = S.provinces.get(code);
  if (!state?.node) return;
  const c = S.tileCounts.get(code) || { n: 0, bad: 0 };
  state.countNode.textContent = c.n ? `${fmt(c.n)}${c.bad ? ` · ${fmt(c.bad)}✗` : ""}` : "";
  const quota = S.quotas?.get(state.consumer);
  const label = [`${state.name}: ${t("oneStop")}`, `${fmt(c.n)} ${t("exchanges").toLowerCase()}`, `${fmt(c.bad)} ${t("failures").toLowerCase()}`];
  if (quota && quota.limit) {
    const share = Math.min(1, quota.used / quota.limit);
    state.quotaNode.setAttribute("width", String((GEO.w - 6) * share));
    state.quotaNode.setAttribute("class", `quota${share >= 1 ? " full" : share >= 0.8 ? " high" : ""}`);
    label.push(`${t("used")} ${fmt(quota.used)} / ${fmt(quota.limit)}`);
  }
  state.node.setAttribute("aria-label", label.join(", "));
}
function renderDatabases() {
  const figures = S.stats?.databases || {};
  const tbody = $("#db-table tbody");
  tbody.replaceChildren();
  for (const db of S.topo.databases) {
    const f = figures[db.name] || { exchanges: 0, failures: 0, p50_ms: null, p95_ms: null, health: "idle" };
    const state = S.databases.get(db.name);
    const probe = S.health?.providers?.[db.name]?.status;
    if (state.healthNode) {
      state.healthNode.setAttribute("class", `health ${probe === "down" ? "down" : f.health}`);
      state.figNode.textContent = `p50 ${ms(f.p50_ms)} · p95 ${ms(f.p95_ms)} ms`;
      state.fig2Node.textContent = `${fmt(f.exchanges)}/min · ${fmt(f.failures)}✗`;
      state.node.setAttribute("aria-label", `${db[S.lang]}: ${t("h_" + f.health)}, p50 ${ms(f.p50_ms)} ms, p95 ${ms(f.p95_ms)} ms`);
    }
    const health = t("h_" + f.health) + (probe === "down" ? ` · ${t("probe")}: ${t("h_down")}` : "");
    tbody.append(el("tr", { "data-db": db.name },
      el("th", { scope: "row", text: db[S.lang] }),
      el("td", { class: `h-${f.health}`, text: health }),
      el("td", { class: "num", text: fmt(f.exchanges) }),
      el("td", { class: "num", text: fmt(f.failures) }),
      el("td", { class: "num", text: ms(f.p50_ms) }),
      el("td", { class: "num", text: ms(f.p95_ms) })));
  }
}
function renderLegend() {
  const legend = $("#legend");
  legend.setAttribute("aria-label", t("legend"));
  legend.replaceChildren(...Object.keys(COLOURS).map((k) =>
    el("li", { style: `--c:${COLOURS[k]}`, text: t("o_" + k) })));
}
function renderMode() {
  const mode = $("#mode");
  mode.dataset.mode = S.mode;
  mode.textContent = S.mode === "each" ? t("modeEach") : t("modeAggregate");
}

// ---------------------------------------------------------------- drawing
const canvas = $("#particles");
const ctx = canvas.getContext("2d");
function sizeCanvas() {
  const rect = $("#map").getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(rect.width * ratio);
  canvas.height = Math.round(rect.height * ratio);
  S.scale = (rect.width / 840) * ratio;
}
window.addEventListener("resize", sizeCanvas);

function rate() {
  const now = performance.now();
  while (S.arrivals.length && S.arrivals[0] < now - 1000) S.arrivals.shift();
  return S.arrivals.length;
}
function chooseMode() {
  const r = rate();
  let mode = S.mode;
  if (DRAW !== "auto") mode = DRAW;
  else if (S.mode === "each" && r > AGGREGATE_ABOVE) mode = "aggregate";
  else if (S.mode === "aggregate" && r < AGGREGATE_ABOVE * 0.8) mode = "each";
  if (mode !== S.mode) { S.mode = mode; renderMode(); }
  $("#rate").textContent = `${r}/s`;
}
setInterval(chooseMode, 250);

function draw(record) {
  const from = S.provinces.get(record.province)?.pos;
  const to = record.provider ? S.databases.get(record.provider)?.pos : null;
  if (!from) return;
  S.drawn += 1;
  if (S.mode === "aggregate") {
    for (const key of [`p:${record.province}`, to ? `d:${record.provider}` : null]) {
      if (!key) continue;
      const beam = S.beams.get(key) || { n: 0, bad: 0, from: key[0] === "p" ? from : S.gatewayPos, to: key[0] === "p" ? S.gatewayPos : to };
      beam.n += 1; if (record.colour === "failed" || record.colour === "degraded") beam.bad += 1;
      beam.at = performance.now();
      S.beams.set(key, beam);
    }
    return;
  }
  S.particles.push({ from, to, start: performance.now(), colour: COLOURS[record.colour] || "#000" });
}
function frame(now) {
  const began = performance.now();
  S.frames += 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(S.scale || 1, 0, 0, S.scale || 1, 0, 0);
  const gw = S.gatewayPos;
  if (gw) {
    let kept = 0;
    for (const p of S.particles) {
      const k = (now - p.start) / TRAVEL_MS;
      if (k >= 1) continue;
      S.particles[kept++] = p;
      let x, y;
      if (k < 0.5 || !p.to) {
        const u = Math.min(1, k * 2);
        x = p.from.x + (gw.x - p.from.x) * u; y = p.from.y + (gw.y - p.from.y) * u;
      } else {
        const u = (k - 0.5) * 2;
        x = gw.x + (p.to.x - gw.x) * u; y = gw.y + (p.to.y - gw.y) * u;
      }
      ctx.globalAlpha = k < 0.9 ? 1 : (1 - k) * 10;
      ctx.fillStyle = p.colour;
      ctx.beginPath(); ctx.arc(x, y, 5, 0, Math.PI * 2); ctx.fill();
    }
    S.particles.length = kept;
    ctx.globalAlpha = 1;
    for (const [key, beam] of S.beams) {
      const age = now - beam.at;
      if (age > 1500) { S.beams.delete(key); continue; }
      ctx.globalAlpha = Math.max(0.15, 1 - age / 1500);
      ctx.strokeStyle = beam.bad / beam.n > 0.2 ? COLOURS.failed : beam.bad ? COLOURS.degraded : COLOURS.ok;
      ctx.lineWidth = Math.min(14, 1.5 + Math.log2(1 + beam.n));
      ctx.beginPath(); ctx.moveTo(beam.from.x, beam.from.y); ctx.lineTo(beam.to.x, beam.to.y); ctx.stroke();
      if (age > 1000) { beam.n = Math.ceil(beam.n / 2); beam.bad = Math.floor(beam.bad / 2); }
    }
    ctx.globalAlpha = 1;
  }
  S.busyMs += performance.now() - began;
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

// ---------------------------------------------------------------- records
function remember(table, key, record) {
  if (!key) return;
  const list = table.get(key) || [];
  list.push(record);
  if (list.length > RECENT) list.shift();
  table.set(key, list);
}
function onExchange(record) {
  S.received += 1;
  S.arrivals.push(performance.now());
  remember(S.recent.province, record.province, record);
  remember(S.recent.database, record.provider, record);
  if (record.province) {
    const c = S.tileCounts.get(record.province) || { n: 0, bad: 0 };
    c.n += 1; if (record.colour === "failed" || record.colour === "degraded") c.bad += 1;
    S.tileCounts.set(record.province, c);
    if (S.mode === "each") {
      renderTile(record.province);
      const flash = S.provinces.get(record.province)?.flashNode;
      if (flash) {
        flash.style.stroke = COLOURS[record.colour];
        flash.animate([{ opacity: 1 }, { opacity: 0 }], { duration: 900 });
      }
    }
  }
  draw(record);
  if (S.selected && ((S.selected.kind === "province" && S.selected.key === record.province) ||
      (S.selected.kind === "database" && S.selected.key === record.provider))) scheduleSelection();
}
let selectionPending = false;
function scheduleSelection() {
  if (selectionPending) return;
  selectionPending = true;
  setTimeout(() => { selectionPending = false; renderSelection(); }, 200);
}
function renderStats() {
  if (!S.topo) return;
  renderDatabases();
  const stats = S.stats || { outcomes: {}, failure_modes: {} };
  $("#outcome-counts").replaceChildren(...Object.entries(stats.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) =>
    el("li", { "data-outcome": k }, `${k} `, el("b", { text: fmt(v) }))));
  const modes = Object.entries(stats.failure_modes).sort();
  $("#fm-counts").replaceChildren(...(modes.length ? modes.map(([k, v]) =>
    el("li", { "data-fm": k, title: S.topo.failure_modes[k] || "" }, `${k} ${S.topo.failure_modes[k] || ""} `, el("b", { text: fmt(v) })))
    : [el("li", { class: "muted", text: t("none_fm") })]));
  if (S.mode === "aggregate") for (const code of S.provinces.keys()) renderTile(code);
}

// ---------------------------------------------------------------- stream
function connect() {
  const source = new EventSource("/api/events");
  const conn = $("#conn");
  source.onopen = () => { conn.dataset.state = "live"; conn.dataset.i18n = "live"; conn.textContent = t("live"); };
  source.onerror = () => { conn.dataset.state = "lost"; conn.dataset.i18n = "lost"; conn.textContent = t("lost"); };
  source.addEventListener("exchange", (event) => {
    const began = performance.now();
    onExchange(JSON.parse(event.data));
    S.busyMs += performance.now() - began;
  });
  source.addEventListener("stats", (event) => { S.stats = JSON.parse(event.data); renderStats(); });
  source.addEventListener("dropped", (event) => {
    const info = JSON.parse(event.data);
    S.dropped = info.total;
    const badge = $("#dropped");
    badge.hidden = false;
    badge.textContent = `${fmt(info.total)} ${t("dropped")}`;
  });
}

// ---------------------------------------------------------------- selection panel
function select(kind, key) {
  S.selected = key ? { kind, key } : null;
  for (const node of document.querySelectorAll(".tile, .node.database")) {
    const mine = (kind === "province" && node.dataset.code === key) || (kind === "database" && node.dataset.db === key);
    node.setAttribute("aria-pressed", String(mine));
  }
  $("#sel-province").value = kind === "province" ? key : "";
  $("#sel-database").value = kind === "database" ? key : "";
  if (kind === "province" && key) $("#quota-province").value = key;
  showTab("tab-selection", false);
  renderSelection();
  renderQuotas();
}
function renderSelection() {
  const tbody = $("#recent tbody");
  tbody.replaceChildren();
  const sel = S.selected;
  $("#recent-empty").hidden = Boolean(sel);
  if (!sel) { $("#sel-title").textContent = ""; return; }
  const name = sel.kind === "province" ? S.provinces.get(sel.key)?.name : S.databases.get(sel.key)?.[S.lang];
  $("#sel-title").textContent = `${t("lastOf")} ${name}`;
  const list = (S.recent[sel.kind].get(sel.key) || []).slice().reverse();
  for (const r of list) {
    const operation = (r.service || r.path_template || "–").replace(".", " · ");
    const who = sel.kind === "province" ? operation : `${S.provinces.get(r.province)?.name || r.consumer || "–"} · ${r.service?.split(".")[1] || ""}`;
    const outcome = el("td", { class: `o-${r.colour}`, text: r.outcome });
    for (const fm of r.failure_modes || []) outcome.append(el("span", { class: "badge", text: fm }));
    const row = el("tr", { tabindex: "0", "data-exchange": r.exchange_id, "data-colour": r.colour, "data-service": r.service || "",
      "aria-label": `${clock(r.response_out_ts)} ${who} ${r.status_code} ${r.outcome}` },
      el("td", { text: clock(r.response_out_ts) }), el("td", { text: who }),
      el("td", { class: "num", text: String(r.status_code) }), outcome, el("td", { class: "num", text: ms(r.duration_ms) }));
    const show = () => {
      for (const other of tbody.children) other.removeAttribute("aria-selected");
      row.setAttribute("aria-selected", "true");
      S.shownRecord = r.exchange_id;
      const { province, colour, failure_modes, ...record } = r;
      $("#record").textContent = JSON.stringify(record, null, 1);
    };
    row.addEventListener("click", show);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); show(); } });
    if (r.exchange_id === S.shownRecord) row.setAttribute("aria-selected", "true");
    tbody.append(row);
  }
}

// ---------------------------------------------------------------- tabs
function showTab(id, focus = true) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) tab.focus();
  }
}
function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => showTab(tab.id));
    tab.addEventListener("keydown", (e) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (d) { e.preventDefault(); showTab(tabs[(i + d + tabs.length) % tabs.length].id); }
    });
  });
}

// ---------------------------------------------------------------- admin (token typed by the user)
async function admin(method, path, body) {
  if (!S.token) throw new Error(t("needsToken"));
  const response = await fetch(`/api/admin/${path}`, {
    method, headers: { Authorization: `Bearer ${S.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.detail || `${response.status}`), { status: response.status });
  return data;
}
async function useToken(event) {
  event.preventDefault();
  const input = $("#token");
  S.token = input.value.trim() || null;
  input.value = "";
  const state = $("#token-state");
  try {
    await admin("GET", "health");
    state.dataset.i18n = "tokenOk"; state.textContent = t("tokenOk"); state.className = "o-ok";
    document.body.classList.add("has-token");
    for (const note of document.querySelectorAll(".needs-token")) note.hidden = true;
    await Promise.all([loadScenarios(), pollAdmin()]);
  } catch (error) {
    S.token = null;
    state.textContent = `${t("tokenBad")} (${error.message})`; state.className = "o-failed";
  }
}
async function pollAdmin() {
  if (!S.token) return;
  try {
    const [quotas, health] = await Promise.all([admin("GET", "quotas"), admin("GET", "health")]);
    S.quotaReport = quotas; S.health = health;
    S.quotas = new Map();
    for (const item of quotas.items) if (item.service === null) S.quotas.set(item.consumer, item);
    for (const code of S.provinces.keys()) renderTile(code);
    renderDatabases(); renderQuotas();
  } catch (error) { /* shown on the next user action */ }
}
setInterval(pollAdmin, 5000);

function renderQuotas() {
  const list = $("#quota-gauges");
  list.replaceChildren();
  const report = S.quotaReport;
  if (!report) return;
  const hours = Math.floor(report.resets_in_s / 3600), minutes = Math.floor((report.resets_in_s % 3600) / 60);
  $("#quota-day").textContent = `${t("day")} ${report.day} (${report.timezone}), ${t("resetsIn")} ${hours} h ${minutes} min`;
  const code = $("#quota-province").value;
  const consumer = S.provinces.get(code)?.consumer;
  for (const item of report.items.filter((i) => i.consumer === consumer)) {
    const id = `q-${item.policy.replace(/[^\w-]/g, "_")}`;
    const label = el("label", { for: id }, `${item.service || t("total")} · ${t("used")} ${fmt(item.used)} / ${item.limit == null ? t("noLimit") : fmt(item.limit)}`);
    const meter = el("meter", { id, min: "0", max: String(item.limit || 1), value: String(item.limit ? item.used : 0),
      high: String(Math.round((item.limit || 1) * 0.8)), optimum: "0" });
    list.append(el("li", { "data-policy": item.policy }, label, meter));
  }
}

async function loadScenarios() {
  const [catalogue, status] = await Promise.all([admin("GET", "scenarios"), admin("GET", "scenario")]);
  S.catalogue = catalogue;
  const select = $("#scenario-select");
  select.replaceChildren(...catalogue.map((s) => el("option", { value: s.id, text: `${s.id} — ${s.title}` })));
  if (status.run) select.value = status.run.scenario;
  renderRun(status.run);
  describeScenario();
}
function describeScenario() {
  const s = (S.catalogue || []).find((x) => x.id === $("#scenario-select").value);
  $("#scenario-desc").textContent = s ? `${s.failure_modes.join(", ")} · ${s.rules} rules · ${s.source.slice(0, 2).join("; ")}` : "";
}
function renderRun(run) {
  S.run = run;
  $("#run-now").textContent = run
    ? `${t("currentRun")}: ${run.scenario} (${run.run_id}), ${t("since")} ${clock(run.started_at)}${run.clock_at ? ` · ⏱ ${run.clock_at}` : ""}`
    : t("noRun");
  $("#run-now").dataset.scenario = run ? run.scenario : "";
}
async function scenarioAction(action) {
  const msg = $("#scenario-msg");
  msg.textContent = t("running");
  try {
    if (action === "switch") {
      const run = await admin("PUT", "scenario", { name: $("#scenario-select").value });
      renderRun(run); msg.textContent = `${t("switched")} ${run.scenario}`;
    } else if (action === "clear") {
      const run = await admin("DELETE", "scenario");
      renderRun(run); $("#scenario-select").value = run.scenario; msg.textContent = `${t("switched")} ${run.scenario}`;
    } else if (action === "clock") {
      const local = $("#clock-at").value;
      if (!local) { msg.textContent = t("faultClock"); return; }
      await admin("PUT", "clock", { at: `${local.length === 16 ? local + ":00" : local}+07:00` });
      msg.textContent = `${t("clockSet")}: ${local}`;
    } else if (action === "now") {
      await admin("PUT", "clock", { at: null }); msg.textContent = t("clockNow");
    }
  } catch (error) { msg.textContent = `✗ ${error.message}`; }
}
function shortList(items, n = 5) {
  return items.length <= n ? items.join(", ") : `${items.slice(0, n).join(", ")} … (${items.length})`;
}
async function refreshReport() {
  const tbody = $("#report tbody");
  const msg = $("#scenario-msg");
  try {
    const response = await fetch("/api/report", { headers: { Authorization: `Bearer ${S.token || ""}` } });
    const report = await response.json();
    if (!response.ok) throw new Error(report.detail || response.status);
    tbody.replaceChildren(...(report.failure_modes || []).map((row) => {
      const failures = Object.values(row.failures || {}).reduce((a, b) => a + b, 0);
      return el("tr", { "data-fm": row.failure_mode },
        el("th", { scope: "row", title: row.title || "", text: `${row.failure_mode} ${row.title || ""}` }),
        el("td", { class: "num", text: fmt(row.exchanges) }), el("td", { class: "num", text: fmt(failures) }),
        el("td", { class: "num", text: `${((row.timeout_rate || 0) * 100).toFixed(1)}%` }),
        el("td", { class: "num", text: ms(row.p95_ms) }), el("td", { text: shortList(row.provinces || []) }));
    }));
    msg.textContent = `${t("report")}: ${report.run_id || ""} · ${fmt(report.exchanges)} ${t("exchanges").toLowerCase()}`;
  } catch (error) { msg.textContent = `✗ ${error.message}`; }
}

// ---------------------------------------------------------------- flow runner
async function flowCall(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.status);
  return data;
}
async function flowStart() {
  setFlowBusy(true);
  S.flowRun = null; renderFlow();
  const province = $("#flow-province").value;
  try {
    S.flowRun = await flowCall("/api/flows", { flow: $("#flow-name").value, province });
    select("province", province); showTab("tab-flow", false);
  } catch (error) { $("#flow-status").textContent = `✗ ${error.message}`; }
  setFlowBusy(false); renderFlow();
}
async function flowNext(all = false) {
  if (!S.flowRun) return;
  setFlowBusy(true);
  try {
    do {
      S.flowRun = await flowCall(`/api/flows/${S.flowRun.id}/next`);
      renderFlow();
    } while (all && !S.flowRun.finished);
  } catch (error) { $("#flow-status").textContent = `✗ ${error.message}`; }
  setFlowBusy(false); renderFlow();
}
function setFlowBusy(busy) {
  S.flowBusy = busy;
  $("#flow-start").disabled = busy;
  const stepping = Boolean(S.flowRun && !S.flowRun.finished);
  $("#flow-next").disabled = busy || !stepping;
  $("#flow-all").disabled = busy || !stepping;
  if (busy) $("#flow-status").textContent = t("running");
}
function hopClass(step) {
  if (step.error?.code === "contract_violation") return "degraded";
  if (step.error) return "failed";
  if (step.violations.length || (step.note && !step.status)) return "degraded";
  if (step.status == null) return "running";
  return step.status < 400 ? "ok" : "failed";
}
function describeEvent(e) {
  const gw = S.topo.gateway_url;
  switch (e.kind) {
    case "token": return [`🔑 ${t("token")}: POST ${gw}/oauth2/token → ${e.detail || ""}`, ""];
    case "request": return [`→ ${e.method} ${e.path} (${t("attempt")} ${e.attempt})`, ""];
    case "response": return [`← ${e.status} ${e.code || "OK"} · ${ms(e.latency_ms)} ms · ${t("exchange")} ${e.exchange_id || "–"}` +
      (e.quota_remaining == null ? "" : ` · ${t("quotaLeft")} ${fmt(e.quota_remaining)}`), e.status >= 400 ? "err" : ""];
    case "retry": return [`↻ ${t("retryIn")} ${(e.delay_s || 0).toFixed(2)} s ${t("after")} ${e.code} (${e.detail || ""})`, "retry"];
    case "breaker": return [`⚡ ${t("breakerOf")} ${e.provider}: ${e.breaker_state || ""} ${e.detail || ""}`, "err"];
    case "give_up": return [`✗ ${t("givesUp")} ${e.attempt} ${t("attempts")}: ${e.detail || e.code || ""}`, "err"];
    case "quota_reserve": return [`⛔ ${t("notSent")}: ${e.detail || ""}`, "err"];
    default: return [JSON.stringify(e), ""];
  }
}
function renderFlow() {
  const run = S.flowRun;
  const list = $("#hops");
  list.replaceChildren();
  if (!run) { $("#flow-status").textContent = ""; return; }
  const system = `${run.province_name} ${t("oneStop")}`;
  for (const step of run.steps) {
    const db = S.databases.get(step.provider);
    const li = el("li", { class: `hop ${hopClass(step)}`, "data-service": step.service, "data-status": String(step.status ?? "") },
      el("h4", { text: `${t("hop")} ${step.index} · ${step.service}` }),
      el("div", { class: "path", text: `${system} → ${t("gateway")} → ${db ? db[S.lang] : step.provider}: ${step.what}` }));
    const items = el("ul");
    for (const event of step.events) {
      const [text, cls] = describeEvent(event);
      items.append(el("li", { class: cls, text }));
    }
    if (step.error) {
      const meaning = (S.lang === "vi" && MEANINGS_VI[step.error.code]) || step.error.meaning;
      items.append(el("li", { class: "err", text: `✗ ${step.error.code}: ${meaning} (${t("origin_" + step.error.origin)})` }));
    }
    if (step.violations.length) items.append(el("li", { class: "warn", text: `⚠ ${t("missingFields")}: ${step.violations.join(", ")}` }));
    if (step.note && !step.error) items.append(el("li", { class: "muted", text: `= ${step.note}` }));
    li.append(items);
    list.append(li);
  }
  const status = $("#flow-status");
  if (run.finished && run.result) {
    status.replaceChildren(el("span", { class: `outcome-banner o-${run.result.outcome === "completed" ? "ok" : run.result.outcome === "degraded" ? "degraded" : "failed"}`,
      "data-outcome": run.result.outcome, text: `${t("finished")}: ${run.result.outcome.toUpperCase()} — ${run.result.reason}` }));
  } else if (run.paused) {
    status.textContent = `${t("waitingNext")} (${run.steps.length} · ${t("seed")} ${run.seed})`;
  }
  if (!S.flowBusy) setFlowBusy(false);
  const last = list.lastElementChild;
  if (last) last.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------- start
function fillSelects() {
  const provinceOptions = () => S.topo.provinces.map((p) => el("option", { value: p.code, text: `${p.name} (${p.code})` }));
  for (const id of ["#sel-province", "#flow-province", "#quota-province"]) {
    const select = $(id);
    const value = select.value;
    const first = id === "#sel-province" ? [el("option", { value: "", text: t("none") })] : [];
    select.replaceChildren(...first, ...provinceOptions());
    if (value) select.value = value;
  }
  const dbSelect = $("#sel-database"), dbValue = dbSelect.value;
  dbSelect.replaceChildren(el("option", { value: "", text: t("none") }),
    ...S.topo.databases.map((d) => el("option", { value: d.name, text: d[S.lang] })));
  if (dbValue) dbSelect.value = dbValue;
  const flowSelect = $("#flow-name"), flowValue = flowSelect.value;
  flowSelect.replaceChildren(...S.topo.flows.map((f) => el("option", { value: f.id, text: f[S.lang] })));
  if (flowValue) flowSelect.value = flowValue;
}
async function main() {
  setupTabs();
  $("#lang").addEventListener("click", () => { S.lang = S.lang === "en" ? "vi" : "en"; applyLanguage(); });
  $("#token-form").addEventListener("submit", useToken);
  $("#sel-province").addEventListener("change", (e) => select("province", e.target.value));
  $("#sel-database").addEventListener("change", (e) => select("database", e.target.value));
  $("#quota-province").addEventListener("change", renderQuotas);
  $("#flow-start").addEventListener("click", flowStart);
  $("#flow-next").addEventListener("click", () => flowNext(false));
  $("#flow-all").addEventListener("click", () => flowNext(true));
  $("#scenario-select").addEventListener("change", describeScenario);
  $("#scenario-switch").addEventListener("click", () => scenarioAction("switch"));
  $("#scenario-clear").addEventListener("click", () => scenarioAction("clear"));
  $("#clock-set").addEventListener("click", () => scenarioAction("clock"));
  $("#clock-reset").addEventListener("click", () => scenarioAction("now"));
  $("#report-refresh").addEventListener("click", refreshReport);
  const [topo, snapshot] = await Promise.all([fetch("/api/topology").then((r) => r.json()), fetch("/api/snapshot").then((r) => r.json())]);
  S.topo = topo;
  for (const p of topo.provinces) S.provinces.set(p.code, { ...p });
  for (const d of topo.databases) S.databases.set(d.name, { ...d });
  for (const [code, list] of Object.entries(snapshot.recent.province)) {
    S.recent.province.set(code, list);
    S.tileCounts.set(code, { n: list.length, bad: list.filter((r) => r.colour === "failed" || r.colour === "degraded").length });
  }
  for (const [name, list] of Object.entries(snapshot.recent.database)) S.recent.database.set(name, list);
  S.stats = snapshot;
  fillSelects();
  applyLanguage();
  connect();
  document.body.dataset.ready = "true";
}
main();
