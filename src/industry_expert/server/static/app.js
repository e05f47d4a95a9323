// The web page of `expert serve`: ask (streamed, with sources beside the answer), search,
// documents and uploads. Plain JavaScript over the same API as any client; text from documents is
// always put in with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], key: sessionStorage.getItem("expert-key") || "" };

function headers(extra = {}) {
  return state.key ? { ...extra, Authorization: `Bearer ${state.key}` } : extra;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// The words and figures an answer shares with a passage, marked in the passage.
function terms(text) {
  const found = new Set();
  for (const m of (text || "").toLowerCase().matchAll(/\d[\d,.]*\d|\d|[\p{L}]{4,}/gu)) found.add(m[0].replace(/,/g, ""));
  return found;
}

function highlighted(passage, answer) {
  const wanted = terms(answer.replace(/\[\d+\]/g, ""));
  const node = el("div", { class: "passage", dir: "auto" });
  let last = 0;
  for (const m of passage.matchAll(/\d[\d,.]*\d|\d|[\p{L}]{4,}/gu)) {
    if (!wanted.has(m[0].toLowerCase().replace(/,/g, ""))) continue;
    node.append(passage.slice(last, m.index), el("mark", { text: m[0] }));
    last = m.index + m[0].length;
  }
  node.append(passage.slice(last));
  return node;
}

function where(item) {
  return item.source + (item.page ? `, page ${item.page}` : "") + (item.locator ? ` (${item.locator})` : "");
}

// A document's original opens in a new tab without an opener, so nothing in it can reach this
// page. With a key, it is fetched here (a link cannot send the key) and shown from a blob only if
// its type shows without running anything; any other type (HTML, SVG, XML, Office) is saved as a
// download, as the server's own headers say (Content-Disposition: attachment).
const INERT = new Set(["application/pdf", "text/plain", "image/png", "image/jpeg", "image/gif", "image/webp"]);

async function openDocument(event, url) {
  if (!state.key) return; // the link opens it directly, served sandboxed by the server
  event.preventDefault();
  const [path, fragment] = url.split("#");
  try {
    const response = await api(path);
    const disposition = response.headers.get("content-disposition") || "";
    const blob = await response.blob();
    const type = blob.type.split(";")[0].trim().toLowerCase();
    if (disposition.startsWith("attachment") || !INERT.has(type)) {
      const name = (/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition) || [])[1] || "document";
      const href = URL.createObjectURL(new Blob([blob], { type: "application/octet-stream" }));
      const save = el("a", { href, download: decodeURIComponent(name) });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60000);
      return;
    }
    const href = URL.createObjectURL(blob);
    window.open(href + (fragment ? `#${fragment}` : ""), "_blank", "noopener,noreferrer");
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  } catch (error) { showError(error.message); }
}

function renderSources(sources, answer) {
  const list = $("sources");
  list.replaceChildren();
  $("sources-empty").hidden = sources.length > 0;
  for (const s of sources) {
    const link = el("a", { href: s.url, target: "_blank", rel: "noopener noreferrer", onclick: (e) => openDocument(e, s.url), text: where(s) });
    const how = s.attributed ? el("span", { class: "muted", text: " (matched by its figures and words)" }) : "";
    list.append(el("li", { value: String(s.n), id: `source-${s.n}` }, el("div", { class: "where" }, link, how), highlighted(s.passage, answer)));
  }
}

// Server-sent events from /v1/chat/completions, one JSON object per `data:` line.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function citeLinks(node, text) {
  node.replaceChildren();
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    node.append(text.slice(last, m.index));
    const n = m[1];
    node.append(el("span", { class: "cite", text: m[0], onclick: () => {
      const target = $(`source-${n}`);
      if (target) { target.scrollIntoView({ behavior: "smooth", block: "center" }); target.querySelector(".passage").classList.add("focus"); }
    } }));
    last = m.index + m[0].length;
  }
  node.append(text.slice(last));
}

async function ask(event) {
  event.preventDefault();
  showError("");
  const question = $("question").value.trim();
  if (!question) return;
  const answerNode = el("div", { class: "a", dir: "auto" });
  const note = el("div", { class: "note" });
  const meta = el("div", { class: "meta" });
  const turn = el("div", { class: "turn" }, el("div", { class: "q", dir: "auto", text: question }), answerNode, note, meta);
  $("conversation").prepend(turn);
  $("ask").disabled = true;
  const messages = [];
  for (const [q, a] of state.history) messages.push({ role: "user", content: q }, { role: "assistant", content: a });
  messages.push({ role: "user", content: question });
  const body = { model: $("model").value, messages, stream: true, sources: true, stream_options: { include_usage: true } };
  if ($("ask-collection").value) body.collection = $("ask-collection").value;
  const started = performance.now();
  let text = "";
  try {
    const response = await api("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    for await (const chunk of events(response)) {
      if (chunk.error) throw new Error(chunk.error.message);
      const choice = chunk.choices && chunk.choices[0];
      if (choice && choice.delta && choice.delta.content) {
        text += choice.delta.content;
        answerNode.textContent = text;
      }
      if (chunk.sources) {
        text = chunk.content || text; // the answer as checked, with every citation
        citeLinks(answerNode, text);
        renderSources(chunk.sources, text);
        const flags = [];
        const language = chunk.checks.find((c) => c.startsWith("the model does not write"));
        if (language) flags.push(`${language}: the line that answers is quoted in the document's words`);
        else if (chunk.quoted) flags.push(`the model's answer failed its checks (${chunk.checks.join(", ")}); the line that answers is quoted instead`);
        else if (chunk.unsupported.length) flags.push(`not in the cited sources: ${chunk.unsupported.join(", ")}; check this answer`);
        else if (chunk.checks.length) flags.push(`this answer failed a check (${chunk.checks.join(", ")}); read the sources`);
        note.textContent = flags.join(" ");
        if (chunk.found) state.history.push([question, text]);
      }
      if (chunk.usage) meta.textContent = `${body.model} · ${chunk.usage.completion_tokens} tokens · ${((performance.now() - started) / 1000).toFixed(1)} s`;
    }
    $("question").value = "";
  } catch (error) {
    showError(error.message);
    turn.remove();
  } finally {
    $("ask").disabled = false;
  }
}

async function search(event) {
  event.preventDefault();
  showError("");
  const params = new URLSearchParams({ q: $("query").value, k: $("search-k").value });
  if ($("search-collection").value) params.set("collection", $("search-collection").value);
  try {
    const { hits } = await (await api(`/api/search?${params}`)).json();
    const list = $("hits");
    list.replaceChildren();
    if (!hits.length) list.append(el("li", { class: "muted", text: "no matching passages" }));
    for (const h of hits) {
      list.append(el("li", {}, el("div", { class: "where", text: `${where(h)} · ${h.collection} · score ${h.score.toFixed(4)}` }), highlighted(h.text, $("query").value)));
    }
  } catch (error) { showError(error.message); }
}

async function loadDocuments() {
  try {
    const { data } = await (await api("/api/documents")).json();
    const body = $("documents");
    body.replaceChildren();
    for (const d of data) {
      const forget = el("button", { class: "secondary", text: "Forget", onclick: async () => {
        if (!confirm(`Forget ${d.source}?`)) return;
        try { await api(`/api/documents/${d.id}`, { method: "DELETE" }); await refresh(); } catch (error) { showError(error.message); }
      } });
      const link = el("a", { href: d.url, target: "_blank", rel: "noopener noreferrer", onclick: (e) => openDocument(e, d.url), text: d.source });
      body.append(el("tr", {}, el("td", { class: "source" }, link), el("td", { text: d.collection }), el("td", { text: String(d.chunks) }),
        el("td", { dir: "auto", text: d.title }), el("td", { text: d.ingested_at }), el("td", {}, forget)));
    }
    $("documents-count").textContent = `${data.length} document(s)`;
  } catch (error) { showError(error.message); }
}

async function loadCollections() {
  const { data } = await (await api("/api/collections")).json();
  for (const select of document.querySelectorAll("select.collections")) {
    const keep = select.value;
    select.replaceChildren(el("option", { value: "", text: "all I may read" }), ...data.map((c) => el("option", { value: c.name, text: `${c.name} (${c.documents})` })));
    select.value = keep;
  }
  $("collection-names").replaceChildren(...data.map((c) => el("option", { value: c.name })));
}

async function loadModels() {
  const { data } = await (await api("/v1/models")).json();
  const select = $("model");
  const keep = select.value || "rag";
  select.replaceChildren(...data.filter((m) => !m.description.includes("embedder")).map((m) => el("option", { value: m.id, text: m.id, title: m.description })));
  select.value = keep;
}

async function upload(event) {
  event.preventDefault();
  showError("");
  const files = $("files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const collection = $("upload-collection").value.trim();
  $("upload").disabled = true;
  $("upload-status").textContent = `uploading ${files.length} file(s)…`;
  $("upload-results").replaceChildren();
  try {
    let job = await (await api(`/api/collections/${encodeURIComponent(collection)}/files`, { method: "POST", body: form })).json();
    while (job.status === "queued" || job.status === "running") {
      $("upload-status").textContent = `ingesting into ${collection}: ${job.status}, ${job.results.length} of ${job.files.length} file(s) done`;
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await (await api(`/api/jobs/${job.id}`)).json();
    }
    const r = job.report;
    $("upload-status").textContent = job.status === "done"
      ? `done: ${r.added.length} added, ${r.updated.length} updated, ${r.unchanged} unchanged, ${r.skipped.length} skipped; ${r.chunks} chunks in ${r.seconds.toFixed(1)} s`
      : `failed: ${job.error}`;
    for (const f of job.results) {
      $("upload-results").append(el("li", { class: f.status === "skipped" ? "error" : "", text: `${f.status} ${f.path}${f.chunks ? ` (${f.chunks} chunks)` : ""}${f.reason ? `: ${f.reason}` : ""}` }));
    }
    $("files").value = "";
    await refresh();
  } catch (error) {
    showError(error.message);
    $("upload-status").textContent = "";
  } finally {
    $("upload").disabled = false;
  }
}

async function refresh() {
  try {
    const status = await (await api("/api/status")).json();
    $("status").textContent = `${status.documents} documents · ${status.chunks} chunks · ${status.generator}${status.key ? ` · key ${status.key}` : ""}`;
    await Promise.all([loadModels(), loadCollections(), loadDocuments()]);
    showError("");
  } catch (error) {
    $("status").textContent = "not connected";
    showError(error.message);
  }
}

function selectTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== `tab-${name}`;
}

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
$("ask-form").addEventListener("submit", ask);
$("question").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); } });
$("search-form").addEventListener("submit", search);
$("upload-form").addEventListener("submit", upload);
$("refresh-documents").addEventListener("click", refresh);
$("new-chat").addEventListener("click", () => { state.history = []; $("conversation").replaceChildren(); renderSources([], ""); });
$("key").value = state.key;
$("key").addEventListener("change", () => { state.key = $("key").value.trim(); sessionStorage.setItem("expert-key", state.key); refresh(); });
refresh();
