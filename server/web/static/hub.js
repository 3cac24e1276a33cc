// tshub's pages: plain JavaScript, no framework, nothing fetched from elsewhere.
// The token lives in this tab's sessionStorage and goes only into the Authorization header of /v1 calls,
// so every call is the JSON API's own (authentication, tenant isolation, limits). Text from the server is
// always inserted as text (textContent), never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "tshub-token";
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  const POLL_MS = 500;
  const PAGE_SIZE = 100; // rows a list page fetches at a time ("Show older" fetches the next)
  const prefix = document.body.dataset.prefix || "/ui";
  const $ = (selector) => document.querySelector(selector);
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  // ------------------------------------------------------------------------------------------ DOM helpers
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function fmt(value, digits = 3) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
    return String(value);
  }

  const score = (v) => (typeof v === "number" ? v.toFixed(3) : fmt(v)); // metrics: always 3 decimals

  function table(head, rows, id) {
    return el("div", {class: "table-wrap"}, el("table", {id},
      el("thead", {}, el("tr", {}, head.map((h) => el("th", {scope: "col", text: h})))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))));
  }

  function facts(pairs) {
    return pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {}, v)]);
  }

  function showError(target, err) {
    target.replaceChildren(el("div", {class: "error", role: "alert"},
      el("strong", {text: err.status ? `Error ${err.status}: ` : "Error: "}), el("span", {class: "detail", text: err.message}),
      err.status === 401 ? el("span", {}, " — ", el("a", {href: `${prefix}/token`, text: "paste a valid token"})) : null));
  }

  function tableError(body, columns, err) {
    const cell = el("td", {colspan: columns});
    body.replaceChildren(el("tr", {}, cell));
    showError(cell, err);
  }

  // A list endpoint's items as table rows, newest first, a page at a time: a "Show older" button under the table
  // fetches the next page (the API's next_cursor) and adds its rows; none once the last page is shown.
  async function pagedTable(body, path, row, columns, empty) {
    const table = body.closest("table");
    let more = table.nextElementSibling && table.nextElementSibling.classList.contains("show-older")
      ? table.nextElementSibling : null;
    async function load(cursor) {
      const page = await api(`${path}?limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      const rows = page.items.map(row);
      if (cursor) body.append(...rows);
      else body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {colspan: columns, text: empty}))]));
      if (more) more.remove();
      more = null;
      if (page.next_cursor) {
        more = el("button", {type: "button", class: "show-older", text: "Show older"});
        more.addEventListener("click", async () => {
          more.disabled = true;
          try { await load(page.next_cursor); } catch (err) { more.disabled = false; showError(more, err); }
        });
        table.after(more);
      }
    }
    try { await load(null); } catch (err) { tableError(body, columns, err); }
  }

  // ------------------------------------------------------------------------------------------ the API
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function detailText(data, response) {
    const detail = data && data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
    return `${response.status} ${response.statusText}`;
  }

  async function api(path, {method = "GET", json, form, raw = false, bearer = token()} = {}) {
    const headers = {Authorization: `Bearer ${bearer}`};
    let body;
    if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
    if (form) body = form;
    let response;
    try {
      response = await fetch(path, {method, headers, body, cache: "no-store", credentials: "omit"});
    } catch {  // the browser's own words for it ("Failed to fetch") say nothing a user can act on
      throw new ApiError(0, "the server could not be reached (no network, or the server is down or restarting): "
        + "check the connection, then try again.");
    }
    if (response.ok && raw) return response;
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, detailText(data, response));
    return data;
  }

  // Without a token a page's forms have nothing to send their fields to: a submit would be the browser's own GET
  // of the page, which reloads it with every field (a file's name included) in its address and says nothing.
  function needsToken() {
    if (token()) return false;
    const notice = $("#signin-needed");
    notice.hidden = false;
    document.querySelectorAll("main form").forEach((form) => form.addEventListener("submit", (event) => {
      event.preventDefault();
      notice.querySelector("a").focus();
    }));
    return true;
  }

  // ------------------------------------------------------------------------------------------ plots (SVG)
  const SVG = "http://www.w3.org/2000/svg";
  const DASHES = ["", "6 3", "2 2", "8 3 2 3"];
  const MARKERS = ["circle", "square", "triangle", "diamond"];
  const COLOURS = ["#1f4e79", "#b35900", "#2e7d32", "#6a1b9a"];

  // Series k's look, as server/web/svg.py's `style`: a dash pattern, and a marker and colour shifted by one every
  // four series, so that the first sixteen (an ω grid and its scratch run) all differ, in grey too.
  function style(k) {
    const shifted = (k + Math.floor(k / DASHES.length)) % MARKERS.length;
    return {dash: DASHES[k % DASHES.length], marker: MARKERS[shifted], colour: COLOURS[shifted]};
  }

  function marker(shape, x, y, colour, cls = "") {
    const r = 3.2, hollow = shape === "square" || shape === "diamond";
    const paint = {fill: hollow ? "white" : colour, stroke: hollow ? colour : "", class: cls};
    if (shape === "circle") return svg("circle", {cx: x, cy: y, r, ...paint});
    if (shape === "square") return svg("rect", {x: x - r, y: y - r, width: 2 * r, height: 2 * r, ...paint});
    const d = shape === "triangle" ? `M${x},${y - r - 1} L${x + r + 1},${y + r} L${x - r - 1},${y + r} Z`
      : `M${x},${y - r - 1} L${x + r + 1},${y} L${x},${y + r + 1} L${x - r - 1},${y} Z`;
    return svg("path", {d, ...paint});
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== "" && v !== null) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ticks(lo, hi, count = 5) {
    const span = hi - lo;
    if (span <= 0) return [lo];
    const raw = span / count, magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
    return out;
  }

  // series: [{label, points: [[x, y], ...]}]; each line has its own dash pattern (readable without colour).
  function linePlot(series, {title, xLabel, yLabel, width = 640, height = 280}) {
    const left = 56, right = 12, top = 12, bottom = 44 + 18 * Math.ceil(series.length / 2);
    const w = width - left - right, h = height - top - bottom;
    const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
    let [x0, x1] = [Math.min(1, ...xs), Math.max(2, ...xs)];
    let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
    if (y1 - y0 < 1e-9) { y0 -= 0.05; y1 += 0.05; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const X = (x) => left + ((x - x0) / (x1 - x0)) * w, Y = (y) => top + (1 - (y - y0) / (y1 - y0)) * h;
    const root = svg("svg", {class: "plot", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title});
    root.append(svg("title", {}, title), svg("rect", {x: left, y: top, width: w, height: h, class: "frame"}));
    for (const v of ticks(y0, y1)) {
      root.append(svg("line", {x1: left, x2: left + w, y1: Y(v), y2: Y(v), class: "grid"}),
        svg("text", {x: left - 6, y: Y(v) + 4, class: "tick", "text-anchor": "end"}, String(+v.toPrecision(4))));
    }
    for (const v of ticks(x0, x1).filter((t) => Number.isInteger(t))) {
      root.append(svg("text", {x: X(v), y: top + h + 16, class: "tick", "text-anchor": "middle"}, String(v)));
    }
    root.append(svg("text", {x: left + w / 2, y: top + h + 32, class: "axis", "text-anchor": "middle"}, xLabel),
      svg("text", {x: 14, y: top + h / 2, class: "axis", "text-anchor": "middle",
        transform: `rotate(-90 14 ${top + h / 2})`}, yLabel));
    series.forEach((s, k) => {
      const {dash, marker: shape, colour} = style(k);
      const d = s.points.map(([x, y], j) => `${j ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
      root.append(svg("path", {d, fill: "none", stroke: colour, "stroke-width": 1.8, "stroke-dasharray": dash}));
      for (const [x, y] of s.points) root.append(marker(shape, X(x), Y(y), colour, "point"));
      const lx = left + (k % 2) * w / 2, ly = top + h + 48 + 18 * Math.floor(k / 2);
      const key = svg("g", {class: "legend-key"});
      key.append(svg("line", {x1: lx, x2: lx + 28, y1: ly - 4, y2: ly - 4, stroke: colour, "stroke-width": 1.8,
        "stroke-dasharray": dash}), marker(shape, lx + 14, ly - 4, colour));
      root.append(key, svg("text", {x: lx + 34, y: ly, class: "legend"}, s.label));
    });
    return root;
  }

  // ------------------------------------------------------------------------------------------ datasets
  function splitsText(splits) {
    const order = (name) => { const i = ["train", "val", "test"].indexOf(name); return i < 0 ? 9 : i; };
    return Object.entries(splits || {}).sort((a, b) => order(a[0]) - order(b[0])).map(([k, v]) => `${k} ${v}`).join(", ");
  }

  function summaryView(dataset) {
    const s = dataset.summary;
    const classes = s.classes ? s.classes.map((c, i) => `${c} (${s.class_counts ? s.class_counts[i] : "?"})`).join(", ") : null;
    const splits = splitsText(s.splits);
    return el("div", {class: "summary"},
      el("dl", {class: "facts", id: "summary-facts"}, facts([
        ["name", s.name], ["task", s.task], ["series", s.n], ["channels", s.channels], ["length", s.length],
        ["splits", splits], ["classes (series)", classes],
        ["target range", s.target_range ? s.target_range.map((v) => fmt(v)).join(" … ") : null],
        ["files", (s.files || []).join(", ")], ["id", el("code", {text: dataset.id})]])),
      s.warnings && s.warnings.length ? el("div", {class: "warnings"}, el("h3", {text: "Warnings"}),
        el("ul", {}, s.warnings.map((w) => el("li", {text: w})))) : null);
  }

  async function dataPage() {
    if (needsToken()) return;
    const form = $("#upload-form"), result = $("#upload-result"), button = $("#upload-button");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = new FormData(form);
      for (const key of ["test_file", "name", "task"]) {
        const value = body.get(key);
        if (!value || (value instanceof File && !value.name)) body.delete(key);
      }
      button.disabled = true;
      result.replaceChildren(el("p", {class: "status", role: "status", text: "Uploading and parsing…"}));
      try {
        const dataset = await api("/v1/datasets", {method: "POST", form: body});
        result.replaceChildren(el("p", {class: "status ok", id: "upload-ok", text: "Parsed: "}), summaryView(dataset),
          el("p", {}, el("a", {class: "button", id: "continue-link", href: `${prefix}/data/${dataset.id}`,
            text: "Next: rank sources and fine-tune →"})));
        listDatasets();
      } catch (err) {
        showError(result, err);
      } finally {
        button.disabled = false;
      }
    });
    listDatasets();
  }

  function listDatasets() {
    return pagedTable($("#datasets tbody"), "/v1/datasets", (d) => el("tr", {},
      el("th", {scope: "row"}, el("a", {href: `${prefix}/data/${d.id}`, text: d.summary.name})),
      el("td", {text: d.filename}), el("td", {text: d.summary.n}),
      el("td", {text: splitsText(d.summary.splits)}),
      el("td", {text: new Date(d.created_at).toLocaleString()})), 5, "None yet.");
  }

  async function datasetPage() {
    if (needsToken()) return;
    const id = $("#dataset").dataset.id, summary = $("#dataset-summary");
    $("#recommend-form").addEventListener("submit", (event) => { event.preventDefault(); rank(id); });
    $("#job-form").addEventListener("submit", (event) => { event.preventDefault(); startJob(id); });
    try {
      const dataset = await api(`/v1/datasets/${encodeURIComponent(id)}`);
      $("#dataset-title").textContent = dataset.summary.name;
      $("#crumb-name").textContent = dataset.summary.name;
      summary.replaceChildren(summaryView(dataset));
    } catch (err) {
      showError(summary, err);
      return;
    }
    try {
      const models = await api("/v1/models");
      const select = $("#model");
      for (const m of models) select.append(el("option", {value: m.id, text: m.id}));
      for (const arch of [...new Set(models.map((m) => m.arch))].sort()) {
        document.querySelectorAll(".arch-select").forEach((s) => s.append(el("option", {value: arch, text: arch})));
      }
    } catch (err) {
      showError($("#job-status"), err);
    }
  }

  async function rank(id) {
    const out = $("#ranking"), button = $("#recommend-button");
    const arch = $("#rec-arch").value;
    button.disabled = true;
    out.replaceChildren(el("p", {class: "status", role: "status", text: "Scoring every source on your training series…"}));
    try {
      const r = await api("/v1/recommend", {method: "POST", json: {dataset_id: id, k: Number($("#k").value) || 5,
        method: $("#rec-method").value, arch: arch || null}});
      const rows = r.recommendations.map((rec) => [String(rec.rank),
        el("a", {href: `${prefix}/models/${rec.id}`, text: rec.id}), score(rec.score), rec.training || "—",
        el("button", {type: "button", class: "secondary", "data-model": rec.id, text: "Fine-tune from this",
          onclick: () => { $("#model").value = rec.id; $("#model").focus(); }})]);
      out.replaceChildren(el("p", {text: `Best first, by ${r.score_name}.`}),
        table(["Rank", "Checkpoint", r.score_name, "Training", ""], rows, "ranking-table"), adviceView(r.advice, "advice"),
        r.note ? el("p", {class: "note", text: r.note}) : null,
        r.skipped.length ? el("details", {}, el("summary", {text: `${r.skipped.length} left out`}),
          el("ul", {}, r.skipped.map((s) => el("li", {text: `${s.id}: ${s.reason}`})))) : null);
    } catch (err) {
      showError(out, err);
    } finally {
      button.disabled = false;
    }
  }

  // Whether fine-tuning the first pick should beat scratch and MiniRocket, and on what evidence (tshub.recommend.advice).
  function adviceView(advice, id) {
    if (!advice) return null;
    const referent = {scratch: "training from scratch", minirocket: "MiniRocket"};
    return el("div", {class: "advice", id},
      el("h3", {text: "When not to transfer"}), el("p", {class: "advice-summary", text: `Advice: ${advice.summary}.`}),
      el("ul", {}, [advice.scratch, advice.minirocket].map((v) => el("li", {"data-referent": v.referent,
        text: `vs ${referent[v.referent]}: ${v.answer}${v.probability === null ? "" : ` (win rate ${fmt(v.probability, 2)})`}`
          + ` — ${v.explanation}`}))),
      el("p", {class: "note", text: `Evidence: ${advice.evidence_file}. Refit: ${advice.command}`}));
  }

  // One ω, a list of them ("0.1, 0.5 1": the API checks each's range) or "grid". What is no number is refused here,
  // naming what was typed: sent on, it would be a JSON null, and the API's 422 would name its own fields.
  function omegaChoice(form) {
    const mode = form.elements.omega_mode.value;
    if (mode === "grid") return "grid";
    const example = mode === "list" ? "numbers separated by commas, e.g. 0.1, 0.5, 1" : "a number, e.g. 1";
    const words = (mode === "list" ? form.elements.omega_list : form.elements.omega).value.split(/[\s,;]+/).filter(Boolean);
    const bad = words.filter((w) => !Number.isFinite(Number(w)));
    if (!words.length) throw new Error(`ω: nothing given; type ${example}.`);
    if (bad.length) throw new Error(`ω: ${bad.map((w) => `'${w}'`).join(", ")} ${bad.length > 1 ? "are not numbers" : "is not a number"}; type ${example}.`);
    return mode === "list" ? words.map(Number) : Number(words[0]);
  }

  async function startJob(id) {
    const status = $("#job-status"), form = $("#job-form");
    const value = (name) => form.elements[name].value.trim();
    const model = value("model");
    let omega;
    try {
      omega = omegaChoice(form);
    } catch (err) {
      showError(status, err);
      return;
    }
    const body = {dataset_id: id, model, search: value("search"), recipe: value("recipe"),
      seed: Number(value("seed") || 0), validation: value("validation"), baseline: form.elements.baseline.checked,
      lr_multiplier: omega};
    if (model === "auto" && value("arch")) body.arch = value("arch");
    if (model === "auto") body.allow_self_transfer = form.elements.allow_self_transfer.checked;
    if (value("epochs")) body.epochs = Number(value("epochs"));
    if (value("budget_s")) body.budget_s = Number(value("budget_s"));
    for (const name of ["relative_target", "use_stream_max"]) if (value(name)) body[name] = value(name) === "true";
    $("#start-job").disabled = true;
    status.textContent = "Starting…";
    try {
      const job = await api("/v1/jobs", {method: "POST", json: body});
      window.location.assign(`${prefix}/jobs/${job.id}`);
    } catch (err) {
      showError(status, err);
      $("#start-job").disabled = false;
    }
  }

  // ------------------------------------------------------------------------------------------ jobs
  // A job's identifiers in words: its phases, and its stop reasons as the server words them (data-stop-words: the
  // model pages' TRAINING_STATUS), so "max_epochs" or "finetune" never reach the page.
  const PHASES = {recommending: "ranking the sources", loading: "loading the source", finetune: "fine-tuning",
    baseline: "training from scratch", minirocket: "fitting MiniRocket", done: "done"};
  const known = (v) => v !== null && v !== undefined;
  const phaseText = (phase) => (phase ? PHASES[phase] || phase.replace(/_/g, " ") : null);
  const metricText = (metric) => (metric || "val_metric").replace(/^val_/, "validation ").replace("mae", "MAE").replace(/_/g, " ");

  function stopText(reason) {
    if (!known(reason)) return null;
    const words = JSON.parse(($("#job") && $("#job").dataset.stopWords) || "{}");
    return words[reason] || String(reason).replace(/_/g, " ");
  }

  function metricsText(metrics) {
    return metrics ? Object.entries(metrics).map(([k, v]) => `${k} ${score(v)}`).join(", ") : "—";
  }

  async function jobsPage() {
    if (needsToken()) return;
    await pagedTable($("#jobs tbody"), "/v1/jobs", (j) => el("tr", {},
      el("th", {scope: "row"}, el("a", {href: `${prefix}/jobs/${j.id}`}, el("code", {text: j.id.slice(0, 12)}))),
      el("td", {text: j.state + (j.cancel_requested && !TERMINAL.includes(j.state) ? " (cancelling)" : "")}),
      el("td", {text: j.source || j.model}), el("td", {text: fmt(j.lr_multiplier)}),
      el("td", {text: metricsText(j.metrics)}), el("td", {text: new Date(j.created_at).toLocaleString()})),
      6, "No jobs yet.");
  }

  function jobPage() {
    const state = $("#job-state"), problem = $("#job-problem");
    if (needsToken()) {
      state.textContent = "unknown: no token in this tab";
      return;
    }
    const id = $("#job").dataset.id;
    const curves = new Map(); // "phase (ω …)" → Map(epoch → value)
    let metricName = "val_metric";

    const cancel = $("#cancel-job"), download = $("#download-model");
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try { render(await api(`/v1/jobs/${id}/cancel`, {method: "POST"})); } catch (err) { showError($("#job-result"), err); }
    });
    download.addEventListener("click", async () => {
      download.disabled = true;
      try {
        const response = await api(`/v1/jobs/${id}/model`, {raw: true});
        const url = URL.createObjectURL(await response.blob());
        const link = el("a", {href: url, download: `tshub-job-${id}.zip`});
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (err) {
        showError($("#job-result"), err);
      } finally {
        download.disabled = false;
      }
    });

    function record(p) {
      if (!p || p.epoch === null || p.epoch === undefined || p.value === null || p.value === undefined) return;
      metricName = p.metric || metricName;
      const key = p.phase === "baseline" ? "from scratch" : p.runs > 1 ? `ω = ${p.lr_multiplier}` : "fine-tune";
      if (!curves.has(key)) curves.set(key, new Map());
      curves.get(key).set(p.epoch, p.value);
    }

    function drawCurve() {
      if (!curves.size) return;
      const series = [...curves].map(([label, points]) => ({label, points: [...points].sort((a, b) => a[0] - b[0])}));
      $("#curve").replaceChildren(linePlot(series, {title: `${metricText(metricName)} per epoch`, xLabel: "epoch",
        yLabel: metricText(metricName)}));
    }

    function render(job) {
      state.textContent = job.state + (job.cancel_requested && !TERMINAL.includes(job.state) ? " (cancel requested)" : "")
        + (job.reason ? ` — ${job.reason}` : "");
      document.body.dataset.jobState = job.state;
      const p = job.progress || {};
      record(p);
      drawCurve();
      const bar = $("#epoch-progress");
      if (job.state === "succeeded" || p.max_epochs) {
        bar.max = p.max_epochs || Math.max(p.epoch || 0, 1);
        bar.value = job.state === "succeeded" ? bar.max : p.epoch || 0; // its last event may be an epoch-less phase
        bar.textContent = `${bar.value} / ${bar.max}`;
      } else { // no limit known: an indeterminate bar, not one full at every epoch
        bar.removeAttribute("value");
        bar.textContent = known(p.epoch) ? `epoch ${p.epoch}` : "";
      }
      // an epoch's figures only while one trains: a finished job, or a phase without epochs, has none to show
      const live = !TERMINAL.includes(job.state);
      $("#progress-facts").replaceChildren(...facts([
        ["phase", phaseText(p.phase)], ["source", job.source], ["ω", p.runs > 1 ? `${p.lr_multiplier} (${p.run} of ${p.runs})`
          : fmt(job.lr_multiplier)], ["epoch", known(p.epoch)
          ? `${p.epoch}${p.max_epochs ? ` of at most ${p.max_epochs}` : ""}` : null],
        ["training loss", live && known(p.loss) ? score(p.loss) : null],
        [metricText(p.metric), live && known(p.value) ? score(p.value) : null],
        [p.runs > 1 ? "best so far, this ω" : "best so far", live && known(p.best) ? score(p.best) : null]]));
      cancel.hidden = TERMINAL.includes(job.state) || job.cancel_requested;
      download.hidden = job.state !== "succeeded";
      if (TERMINAL.includes(job.state)) {
        recordResult(job);
        $("#job-result").replaceChildren(resultView(job));
      }
    }

    // A finished job's result holds the whole curve of the kept run (and of the baseline): a page opened
    // after the job ended, which never saw its progress, draws it all.
    function recordResult(job) {
      const r = job.result || {};
      const runs = (r.grid || []).length;
      for (const [phase, summary] of [["finetune", r], ["baseline", r.baseline]]) {
        const curve = summary && summary.val_curve;
        if (!curve) continue;
        curve.values.forEach((value, i) => record({phase, epoch: i + 1, value, metric: curve.metric, runs,
          lr_multiplier: job.lr_multiplier}));
      }
      drawCurve();
    }

    // A job that cannot be read says so in its state; an error that may pass (the network, a restart) is shown
    // while the page keeps asking, and goes as soon as an answer comes.
    async function poll() {
      try {
        const job = await api(`/v1/jobs/${id}`);
        problem.replaceChildren();
        render(job);
        if (!TERMINAL.includes(job.state)) setTimeout(poll, POLL_MS);
      } catch (err) {
        const final = err.status === 401 || err.status === 404;
        if (final || state.textContent === "loading…") state.textContent = "unknown: the job could not be read";
        showError(problem, final ? err : new ApiError(err.status, `${err.message} Asking again every ${POLL_MS * 4 / 1000} s.`));
        if (!final) setTimeout(poll, POLL_MS * 4);
      }
    }
    poll();
  }

  function validationText(r) {
    return r.validation_is_train ? `the ${r.splits.train} training series themselves (none held out)`
      : `${r.splits.val} series held out of ${r.splits.train + r.splits.val}`;
  }

  // Whether fine-tuning beat each referent, in the library's words (tshub.recommend.advice.compare).
  function verdictsView(verdicts) {
    if (!verdicts || !verdicts.length) return null;
    return el("ul", {class: "verdicts", id: "verdicts"}, verdicts.map((v) => el("li", {"data-referent": v.referent,
      "data-outcome": v.outcome || "none", text: v.sentence})));
  }

  // A regression's naive forecasts, what the model must beat, scored on the same test split (the job's result.naive).
  function naiveText(naive, key) {
    return naive && naive[key] && naive[key].metrics ? metricsText(naive[key].metrics) : null;
  }

  // What makes a finished job's model worth nothing, said before anything else (the CLI warns the same).
  function worthlessView(r) {
    const said = [["The fine-tuned model", r.learned_nothing],
      ["The from-scratch model", r.baseline && r.baseline.learned_nothing]].filter(([, why]) => why);
    return said.length ? el("div", {class: "error", role: "alert"},
      said.map(([who, why]) => el("p", {text: `${who} learned nothing: ${why}.`}))) : null;
  }

  function resultView(job) {
    const r = job.result || {};
    const parts = [worthlessView(r), verdictsView(job.verdicts), el("dl", {class: "facts", id: "result-facts"}, facts([
      ["source", job.source], ["ω chosen", fmt(job.lr_multiplier)], ["test metrics", metricsText(job.metrics)],
      ["validation metrics", r.val_metrics ? metricsText(r.val_metrics) : null],
      ["validation split", r.splits ? validationText(r) : null],
      ["from scratch (test)", job.baseline_metrics ? metricsText(job.baseline_metrics) : null],
      ["MiniRocket (test)", job.minirocket_metrics ? metricsText(job.minirocket_metrics)
        : r.minirocket && r.minirocket.not_run ? `not run: ${r.minirocket.not_run}` : null],
      ["training mean (test)", naiveText(r.naive, "training_mean")],
      ["persistence (test)", naiveText(r.naive, "persistence")],
      ["epochs", r.epochs], ["weights of epoch", r.best_epoch], ["how it ended", stopText(r.stop_reason)],
      ["convergence rate", known(r.convergence_rate) ? score(r.convergence_rate) : null],
      ["time", r.elapsed_s ? `${fmt(r.elapsed_s, 1)} s` : null], ["note", r.self_transfer],
      ["advice said", r.advice ? r.advice.summary : null], ["ranking note", r.recommendation_note],
      ["reason", job.reason]]))];
    if (r.grid && r.grid.length > 1) {
      parts.push(el("h3", {text: "ω tried (validation)"}), table(["ω", "validation", "epochs", "ended"],
        r.grid.map((g) => [fmt(g.lr_multiplier), metricsText(g.val_metrics), fmt(g.epochs), stopText(g.stop_reason) || "—"]), "grid"));
    }
    parts.push(adviceView(r.advice, "job-advice"));
    if (job.state === "succeeded") {
      parts.push(el("p", {class: "note"}, "Unzip the download and load it: ",
        el("code", {text: "tshub.load_pretrained(\"folder\")"})));
    }
    return el("div", {}, parts);
  }

  // ------------------------------------------------------------------------------------------ token, copy
  function tokenPage() {
    const form = $("#token-form"), status = $("#token-status");
    status.textContent = token() ? "A token is set in this tab." : "No token set in this tab.";
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = form.elements.token.value.trim();
      status.textContent = "Checking…";
      try {
        await api("/v1/datasets?limit=1", {bearer: value});
        sessionStorage.setItem(TOKEN_KEY, value);
        form.reset();
        status.replaceChildren("Token accepted and kept in this tab. Next: ",
          el("a", {href: `${prefix}/data`, id: "to-data", text: "upload data"}), " or ",
          el("a", {href: `${prefix}/jobs`, text: "see your jobs"}), ".");
        markSignedIn();
      } catch (err) {
        showError(status, err);
      }
    });
    $("#token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      status.textContent = "Token forgotten in this tab.";
      markSignedIn();
    });
  }

  function markSignedIn() {
    const link = $("#token-link");
    if (link) link.textContent = token() ? "Token (set)" : "Token (none)";
  }

  function copyButtons() {
    document.querySelectorAll("button.copy").forEach((button) => button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const area = el("textarea", {class: "sr-only"});
        area.value = text;
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    }));
  }

  // A page restored from the back-forward cache must not keep a button disabled by the request that left it.
  window.addEventListener("pageshow", () => document.querySelectorAll("button:disabled").forEach((b) => { b.disabled = false; }));
  const pages = {token: tokenPage, data: dataPage, dataset: datasetPage, jobs: jobsPage, job: jobPage};
  markSignedIn();
  copyButtons();
  (pages[document.body.dataset.page] || (() => {}))();
})();
