// The search console: calls the public /v1 API with the key kept in sessionStorage. Every
// string from the server is rendered with textContent (never innerHTML), and the page's CSP
// allows no inline script, so a document's title can only ever show as text.
"use strict";
const $ = (id) => document.getElementById(id);
const ROUTES = ["dense", "sparse", "bm25", "colbert"];
let offset = 0;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("hs-key");
  if (key) headers["X-API-Key"] = key;
  const res = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    throw new Error(`${e.code || res.status}: ${e.message || res.statusText}`);
  }
  return data;
}

function status(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function loadCollection() {
  try {
    const c = await api("GET", "/v1/collection");
    $("collection").textContent = `collection ${c.name}`;
    const saved = Object.entries(c.search_defaults || {});
    $("defaults").textContent = saved.length
      ? "saved defaults: " + saved.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")
      : "no saved defaults";
    $("routes").replaceChildren(...ROUTES.filter((r) => c.routes.includes(r)).map((r) => {
      const label = el("label");
      const box = el("input");
      box.type = "checkbox"; box.value = r; box.checked = true; box.className = "route-box";
      label.append(box, " " + r);
      return label;
    }));
  } catch (err) {
    status(err.message, true);
  }
}

function options() {
  const body = { query: $("query").value, top_k: Number($("top_k").value), offset,
                 rerank: $("rerank").checked, highlight: true, explain: true };
  const routes = [...document.querySelectorAll(".route-box")];
  if (routes.some((b) => !b.checked)) body.routes = routes.filter((b) => b.checked).map((b) => b.value);
  if ($("fusion").value) body.fusion = $("fusion").value;
  if ($("filter").value.trim()) body.filter = JSON.parse($("filter").value);
  return body;
}

function snippet(hit) {
  const p = el("p", "snippet");
  const h = hit.highlight;
  if (!h) { p.textContent = hit.text.slice(0, 300); return p; }
  let at = 0;
  for (const [s, e] of h.snippet_spans) {
    p.append(h.snippet.slice(at, s), el("mark", "", h.snippet.slice(s, e)));
    at = e;
  }
  p.append(h.snippet.slice(at));
  return p;
}

function routeCells(hit, answered) {
  const grid = el("div", "routes");
  for (const r of answered) {
    const s = hit.routes[r];
    const missed = !s || s.rank === null;
    const cell = el("div", missed ? "route missed" : "route");
    cell.append(el("b", "", r));
    cell.append(missed ? `missed${s ? ` (score ${s.score.toFixed(3)})` : ""}` : `#${s.rank} · ${s.score.toFixed(3)}`);
    if (!missed) { const bar = el("div", "bar"); bar.style.width = `${Math.min(100, 100 / s.rank)}%`; cell.append(bar); }
    grid.append(cell);
  }
  return grid;
}

function render(res) {
  const total = res.timings_ms.total || 1;
  $("timings").replaceChildren(...Object.entries(res.timings_ms).filter(([k]) => k !== "total").map(([k, v]) => {
    const seg = el("span", "", `${k} ${v.toFixed(1)}ms`);
    seg.title = `${k}: ${v} ms`;
    seg.style.width = `${Math.max(2, (100 * v) / total)}%`;
    return seg;
  }));
  $("hits").start = res.offset + 1;
  $("hits").replaceChildren(...res.hits.map((hit) => {
    const li = el("li", "hit");
    const head = el("div");
    head.append(el("span", "title", hit.title || "(untitled)"), el("span", "doc", hit.doc_id));
    const scores = `${res.fusion} fused ${hit.fused_score.toFixed(4)}` +
      (hit.rerank_score === null ? "" : ` · rerank ${hit.rerank_score.toFixed(4)}`);
    li.append(head, el("div", "scores", scores), routeCells(hit, res.routes), snippet(hit));
    return li;
  }));
  const applied = Object.keys(res.defaults_applied || {});
  status(`${res.hits.length} hits · fusion ${res.fusion} · total ${total.toFixed(1)} ms` +
    (applied.length ? ` · saved defaults applied: ${applied.join(", ")}` : "") +
    (res.degraded ? ` · degraded: ${res.reasons.join("; ")}` : ""));
  $("page").textContent = `page ${Math.floor(offset / Number($("top_k").value)) + 1}`;
  $("prev").disabled = offset === 0;
  $("next").disabled = res.hits.length < Number($("top_k").value);
}

async function search() {
  if (!$("query").value.trim()) return;
  status("searching…");
  try {
    render(await api("POST", "/v1/search", options()));
  } catch (err) {
    status(err.message, true);
  }
}

$("key").value = sessionStorage.getItem("hs-key") || "";
$("key").addEventListener("change", () => { sessionStorage.setItem("hs-key", $("key").value); loadCollection(); });
$("form").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; search(); });
$("fusion").addEventListener("change", () => { offset = 0; search(); });
$("prev").addEventListener("click", () => { offset = Math.max(0, offset - Number($("top_k").value)); search(); });
$("next").addEventListener("click", () => { offset += Number($("top_k").value); search(); });
loadCollection();
