// The demo page's behaviour: plain DOM, no framework, no build step. Every call goes to this API's public
// endpoints with the key the person gave; every value from the API is put in the page as text (textContent,
// attributes), never as HTML, since item names come from a shop's catalogue.
"use strict";

(() => {
  const KEY_STORE = "recengine.apiKey";
  const ITEMS_PER_PAGE = 24;
  const USERS_SHOWN = 200;
  const RETRY_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const state = {
    key: "",
    mode: "item", // "item" or "photo": which query the next request sends
    item: null, // the chosen catalogue item (a row of GET /v1/items)
    photo: null, // the chosen File
    photoUrl: null, // its object URL, revoked when replaced
    offset: 0,
    total: 0,
    itemsRequest: 0, // only the newest listing is drawn when several are in flight
  };

  // --- small helpers -------------------------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else if (name in node) node[name] = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function fmt(value, digits = 3) {
    return typeof value === "number" ? value.toFixed(digits) : "–";
  }

  // Local storage can be unavailable (privacy modes, file policies): the key then lives for this page only.
  function stored(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(name) || "";
      if (value) localStorage.setItem(name, value);
      else localStorage.removeItem(name);
    } catch (_) {
      return "";
    }
    return value;
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  // Relative paths: the page may be served under a proxy's prefix, and the API is wherever the page came from.
  async function api(path, { method = "GET", json, form } = {}) {
    const headers = { Accept: "application/json" };
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form; // the browser sets the multipart boundary itself
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body });
    } catch (err) {
      throw new ApiError(0, "network_error", `the API did not answer (${err.message})`, null);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const error = payload && payload.error;
      if (error && error.code) throw new ApiError(response.status, error.code, error.message, error.details);
      throw new ApiError(response.status, `http_${response.status}`, response.statusText || "request failed", null);
    }
    return payload;
  }

  function errorBox(err, context) {
    const box = el("div", { class: "error-body" });
    const code = err instanceof ApiError ? `${err.code} (${err.status || "no answer"})` : "error";
    box.append(el("strong", { text: context ? `${context}: ` : "" }), el("code", { text: code }), " ",
      el("span", { class: "error-message", text: err.message }));
    if (err instanceof ApiError && err.details !== null && err.details !== undefined) {
      box.append(el("pre", { class: "error-details", text: JSON.stringify(err.details, null, 2) }));
    }
    if (err instanceof ApiError && err.status === 401) {
      box.append(el("p", { text: "Enter an API key above (recengine keys create NAME)." }));
    }
    return box;
  }

  function showStatus(err, context) {
    const status = $("status");
    status.replaceChildren(errorBox(err, context));
    status.hidden = false;
  }

  function clearStatus() {
    $("status").hidden = true;
    $("status").replaceChildren();
  }

  // --- the key ---------------------------------------------------------------------------------------------------

  // A link such as /#key=... (from a report) hands the page a key: it is kept in local storage and dropped from
  // the address bar, so copying the URL does not copy the key. The fragment never reaches the server.
  function readKeyFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const key = params.get("key");
    if (key) {
      stored(KEY_STORE, key);
      state.key = key;
      params.delete("key");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    }
  }

  function showKeyState() {
    $("api-key").value = state.key;
    $("key-state").textContent = state.key
      ? "A key is set (kept in this browser's local storage)."
      : "No key: recommendations and the user list need a writer or admin key.";
  }

  function useKey(key) {
    state.key = key.trim();
    stored(KEY_STORE, state.key);
    showKeyState();
    loadUsers();
  }

  // --- users -------------------------------------------------------------------------------------------------------

  async function loadUsers() {
    const select = $("user");
    const keep = select.value;
    const hint = $("user-hint");
    const anonymous = el("option", { value: "", text: "anonymous (population prior)" });
    if (!state.key) {
      select.replaceChildren(anonymous);
      hint.textContent = "Enter a key to list users; without one, only anonymous requests can be tried.";
      return;
    }
    const params = new URLSearchParams({ limit: String(USERS_SHOWN) });
    const filter = $("user-filter").value.trim();
    if (filter) params.set("q", filter);
    try {
      const page = await api(`v1/users?${params}`);
      const options = page.users.map((u) =>
        el("option", {
          value: u.external_id,
          text: `${u.external_id}${u.has_theta ? " · θu" : ""}${u.interactions ? ` · ${u.interactions} int.` : ""}`,
          title: `${u.interactions} interactions${u.has_theta ? "; preferences of their own (θu)" : ""}`,
        }));
      select.replaceChildren(anonymous, ...options);
      if (page.users.some((u) => u.external_id === keep)) select.value = keep;
      hint.textContent = page.total > page.users.length
        ? `Showing ${page.users.length} of ${page.total} users: filter to find others. θu: preferences of their own.`
        : `${page.total} users. θu: the user has preferences of their own; the others get the population's.`;
    } catch (err) {
      select.replaceChildren(anonymous);
      hint.replaceChildren(errorBox(err, "users"));
    }
  }

  // --- categories ----------------------------------------------------------------------------------------------

  function fillCategories(select, names, preferred, withAll) {
    const options = names.map((c) => el("option", { value: c.name, text: `${c.name} (${c.items})` }));
    if (withAll) options.unshift(el("option", { value: "", text: "all categories" }));
    select.replaceChildren(...options);
    const pick = preferred.find((p) => names.some((c) => c.name === p));
    if (pick !== undefined) select.value = pick;
  }

  async function loadCategories() {
    try {
      const answer = await api("v1/categories");
      const names = answer.categories;
      clearStatus();
      fillCategories($("browse-category"), names, ["top", ...names.map((c) => c.name)], true);
      const browsed = $("browse-category").value;
      fillCategories($("target-category"), names,
        ["bottom", ...names.map((c) => c.name).filter((n) => n !== browsed)], false);
      loadItems();
    } catch (err) {
      // Not ready (no index yet, the database starting): say so and try again, as the server may come up.
      showStatus(err, "categories");
      loadItems();
      if (err instanceof ApiError && (err.status === 503 || err.status === 0)) setTimeout(loadCategories, RETRY_MS);
    }
  }

  // --- catalogue items -----------------------------------------------------------------------------------------

  async function loadItems() {
    const request = ++state.itemsRequest;
    const params = new URLSearchParams({ limit: String(ITEMS_PER_PAGE), offset: String(state.offset) });
    const category = $("browse-category").value;
    const q = $("item-search").value.trim();
    if (category) params.set("category", category);
    if (q) params.set("q", q);
    const grid = $("item-grid");
    grid.setAttribute("aria-busy", "true");
    try {
      const page = await api(`v1/items?${params}`);
      if (request !== state.itemsRequest) return;
      state.total = page.total;
      grid.replaceChildren(...page.items.map(itemTile));
      if (!page.items.length) grid.append(el("p", { class: "hint", text: "No items match." }));
      const last = Math.min(page.offset + page.items.length, page.total);
      $("page-info").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
      $("prev-page").disabled = page.offset === 0;
      $("next-page").disabled = last >= page.total;
    } catch (err) {
      if (request !== state.itemsRequest) return;
      grid.replaceChildren(errorBox(err, "items"));
    } finally {
      if (request === state.itemsRequest) grid.removeAttribute("aria-busy");
    }
  }

  function itemTile(item) {
    const chosen = state.item !== null && state.item.external_id === item.external_id;
    const tile = el("button", {
      type: "button",
      class: `item-tile${chosen ? " chosen" : ""}`,
      title: item.has_image ? `${item.name || item.external_id}` : "no image: it cannot be a query",
      disabled: !item.has_image,
      "data-id": item.external_id,
    },
    item.image_url
      ? el("img", { src: item.image_url, alt: item.name || item.external_id, loading: "lazy" })
      : el("div", { class: "no-image", text: "no image" }),
    el("span", { class: "tile-name", text: item.name || item.external_id }),
    el("span", { class: "tile-meta", text: [item.article_type, item.category].filter(Boolean).join(" · ") }));
    tile.addEventListener("click", () => chooseItem(item));
    return tile;
  }

  function chooseItem(item) {
    state.item = item;
    for (const tile of document.querySelectorAll(".item-tile")) {
      tile.classList.toggle("chosen", tile.dataset.id === item.external_id);
    }
    // A query of one category usually asks for another (a top's bottoms): move the target off the query's own.
    const target = $("target-category");
    if (target.value === item.category) {
      const other = [...target.options].find((o) => o.value !== item.category);
      if (other) target.value = other.value;
    }
    showQuery();
  }

  // --- the query ---------------------------------------------------------------------------------------------------

  function setMode(mode) {
    state.mode = mode;
    $("tab-item").setAttribute("aria-selected", String(mode === "item"));
    $("tab-photo").setAttribute("aria-selected", String(mode === "photo"));
    $("pane-item").hidden = mode !== "item";
    $("pane-photo").hidden = mode !== "photo";
    showQuery();
  }

  function showQuery() {
    const preview = $("query-preview");
    if (state.mode === "item" && state.item) {
      const it = state.item;
      preview.replaceChildren(
        el("img", { src: it.image_url, alt: it.name || it.external_id }),
        el("div", {},
          el("div", { class: "label", text: "Query item" }),
          el("div", { text: it.name || it.external_id }),
          el("div", { class: "hint", text: `${it.external_id} · ${it.article_type || "?"} · ${it.category}` })));
    } else if (state.mode === "photo" && state.photo) {
      preview.replaceChildren(
        el("img", { src: state.photoUrl, alt: "uploaded photo" }),
        el("div", {},
          el("div", { class: "label", text: "Query photo" }),
          el("div", { text: state.photo.name }),
          el("div", { class: "hint", text: `${Math.round(state.photo.size / 1024)} KiB` })));
    } else {
      preview.replaceChildren(el("span", { class: "hint",
        text: state.mode === "item" ? "No query item chosen yet: click one above." : "No photo chosen yet." }));
    }
  }

  function choosePhoto(file) {
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photo = file || null;
    state.photoUrl = file ? URL.createObjectURL(file) : null;
    showQuery();
  }

  // --- recommending --------------------------------------------------------------------------------------------

  function options() {
    const out = {
      category: $("target-category").value,
      k: Number($("k").value || 8),
      designs: Number($("designs").value || 4),
    };
    const user = $("user").value;
    if (user) out.user = user;
    const seed = $("seed").value.trim();
    if (seed !== "") out.seed = Number(seed);
    return out;
  }

  async function recommend(event) {
    event.preventDefault();
    const errorEl = $("error");
    errorEl.hidden = true;
    const opts = options();
    if (state.mode === "item" && !state.item) return showAskError("Pick a query item first (step 3).");
    if (state.mode === "photo" && !state.photo) return showAskError("Choose a photo first (step 3).");
    if (!opts.category) return showAskError("No category to recommend: the API has not listed any yet.");
    let call;
    if (state.mode === "item") {
      call = api("v1/recommendations", { method: "POST", json: { ...opts, item: state.item.external_id } });
    } else {
      const form = new FormData();
      form.append("image", state.photo, state.photo.name);
      form.append("options", JSON.stringify(opts));
      call = api("v1/recommendations:image", { method: "POST", form });
    }
    const button = $("recommend");
    button.disabled = true;
    button.textContent = "Working…";
    $("results").setAttribute("aria-busy", "true");
    try {
      render(await call);
    } catch (err) {
      errorEl.replaceChildren(errorBox(err, "recommendation"));
      errorEl.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = "Recommend";
      $("results").removeAttribute("aria-busy");
    }
  }

  function showAskError(message) {
    const errorEl = $("error");
    errorEl.replaceChildren(el("div", { class: "error-body", text: message }));
    errorEl.hidden = false;
  }

  function render(answer) {
    $("placeholder").hidden = true;
    $("answer").hidden = false;
    const who = answer.user ? answer.user : "an anonymous user";
    const summary = $("summary");
    const parts = [];
    if (answer.query && answer.query.image_url) {
      parts.push(el("img", { src: answer.query.image_url, alt: answer.query.name || answer.query.external_id }));
    } else if (!answer.query && state.photoUrl) {
      parts.push(el("img", { src: state.photoUrl, alt: "uploaded photo" }));
    }
    summary.replaceChildren(...parts,
      el("div", {},
        el("div", { class: "label", text: `${answer.category}: ${answer.items.length} items for ${who}` }),
        el("div", { text: answer.query ? `with ${answer.query.name || answer.query.external_id}` : "with the photo" }),
        el("div", { class: "hint",
          text: `θu: ${answer.theta_source} · designer ${answer.designer} · ${answer.designs.length} designs` })));

    const strip = $("designs-strip");
    strip.replaceChildren(...answer.designs.map((d) => {
      const found = answer.items.filter((m) => m.design === d.index).length;
      const figure = el("figure", { class: `design d${d.index % 8}`, "data-design": String(d.index) },
        el("img", { src: d.url, alt: `design ${d.index + 1}` }),
        el("figcaption", { text: `Design ${d.index + 1} · found ${found}` }));
      figure.addEventListener("mouseenter", () => highlight(d.index));
      figure.addEventListener("mouseleave", () => highlight(null));
      return figure;
    }));

    const matches = $("matches");
    matches.replaceChildren(...answer.items.map((m, rank) =>
      el("article", { class: "match", "data-design": String(m.design), "data-id": m.external_id },
        m.image_url
          ? el("img", { src: m.image_url, alt: m.name || m.external_id })
          : el("div", { class: "no-image", text: "no image" }),
        el("div", { class: "match-body" },
          el("div", { class: "match-name", text: `${rank + 1}. ${m.name || m.external_id}` }),
          el("div", { class: "hint", text: [m.article_type, m.colour].filter(Boolean).join(" · ") || m.external_id }),
          el("dl", { class: "scores" },
            el("dt", { text: "score" }), el("dd", { class: "score", text: fmt(m.score) }),
            el("dt", { text: "similarity" }), el("dd", { class: "similarity", text: fmt(m.similarity) })),
          el("span", { class: `badge d${m.design % 8}`, text: `design ${m.design + 1}` })))));
    if (!answer.items.length) matches.append(el("p", { class: "hint", text: "No items of this category matched." }));

    const t = answer.timings_ms || {};
    $("timings").textContent = Object.keys(t).length
      ? "Time (ms): " + Object.entries(t).map(([name, ms]) => `${name} ${fmt(ms, 1)}`).join(" · ")
      : "";
  }

  function highlight(design) {
    for (const card of document.querySelectorAll(".match")) {
      card.classList.toggle("dimmed", design !== null && card.dataset.design !== String(design));
    }
  }

  // --- wiring --------------------------------------------------------------------------------------------------

  function debounce(fn, ms) {
    let timer = 0;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function start() {
    state.key = stored(KEY_STORE);
    readKeyFromFragment();
    showKeyState();
    $("save-key").addEventListener("click", () => useKey($("api-key").value));
    $("api-key").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        useKey($("api-key").value);
      }
    });
    $("forget-key").addEventListener("click", () => useKey(""));
    $("user-filter").addEventListener("input", debounce(loadUsers, 300));
    $("browse-category").addEventListener("change", () => {
      state.offset = 0;
      loadItems();
    });
    $("item-search").addEventListener("input", debounce(() => {
      state.offset = 0;
      loadItems();
    }, 300));
    $("prev-page").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - ITEMS_PER_PAGE);
      loadItems();
    });
    $("next-page").addEventListener("click", () => {
      state.offset += ITEMS_PER_PAGE;
      loadItems();
    });
    $("tab-item").addEventListener("click", () => setMode("item"));
    $("tab-photo").addEventListener("click", () => setMode("photo"));
    $("photo").addEventListener("change", (e) => choosePhoto(e.target.files[0]));
    $("ask").addEventListener("submit", recommend);
    window.addEventListener("hashchange", () => {
      readKeyFromFragment();
      showKeyState();
      loadUsers();
    });
    showQuery();
    loadUsers();
    loadCategories();
  }

  start();
})();
