// Shared pieces of the livy-rs web UI: requests relative to the base path, a DOM builder that
// only ever creates text nodes from data (never HTML), link checks, polling, and formatting.

/** The path a reverse proxy serves livy-rs under (livy.ui.basePath), set by the server. */
export const basePath = document.body.dataset.basePath || "";

/** The page's kind ("lists", "session", "session-log", "batch-log") and id, set by the server. */
export const page = { kind: document.body.dataset.page, id: document.body.dataset.id };

/** An absolute path on this server, behind the base path. */
export function url(path) {
  return basePath + path;
}

/** An answer of the server that is not a success, with its `{"msg": ...}` text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GETs JSON from this server with the user's own credentials (the browser sends them). */
export async function getJson(path) {
  const response = await fetch(url(path), {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const msg = body && typeof body.msg === "string" ? body.msg : `HTTP ${response.status}`;
    throw new ApiError(response.status, msg);
  }
  return body;
}

/**
 * Builds an element. Attributes are set with setAttribute (an `href` only when it is a safe
 * URL); children that are not nodes become text nodes, so data is never parsed as HTML.
 */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "href" || name === "src") {
      throw new Error(`use link() or an img built by output.js for ${name}`);
    }
    element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** A link to a page of this UI (`path` under /ui/). */
export function uiLink(path, ...children) {
  const a = h("a", {}, ...children);
  a.setAttribute("href", url("/ui/" + path));
  return a;
}

/**
 * A link to a URL from data (Spark UI, driver logs), only when it is http(s): a `javascript:`
 * URL from a report must not become something to click. Otherwise the text alone.
 */
export function link(href, ...children) {
  const safe = safeUrl(href);
  if (!safe) return children.length ? h("span", {}, ...children) : null;
  const a = h("a", { rel: "noopener noreferrer" }, ...(children.length ? children : [href]));
  a.setAttribute("href", safe);
  return a;
}

export function safeUrl(href) {
  if (typeof href !== "string" || href === "") return null;
  try {
    const parsed = new URL(href, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

/** The application id, linked to the Spark UI when its URL is known. */
export function appIdCell(row) {
  if (!row.appId) return "";
  return link(row.appInfo && row.appInfo.sparkUiUrl, row.appId);
}

/** Log links of a row: the UI's log page, then the driver's and executors' logs from YARN. */
export function logLinks(row, kind) {
  const links = [uiLink(`${kind}/${row.id}/log`, kind)];
  const info = row.appInfo || {};
  const driver = link(info.driverLogUrl, "driver");
  if (info.driverLogUrl && driver) links.push(driver);
  if (typeof info.executorLogUrls === "string" && info.executorLogUrls) {
    for (const pair of info.executorLogUrls.split(";")) {
      const [name, href] = pair.split("#");
      if (href) links.push(link(href, name || "executor"));
    }
  }
  return h("span", { class: "links" }, links);
}

/** A state as a badge; the class only when the state is a plain word. */
export function stateBadge(state) {
  const text = String(state ?? "");
  const cls = /^[a-z_]+$/.test(text) ? `state state-${text}` : "state";
  return h("span", { class: cls }, text);
}

/** "12 s", "3.5 min", "2.0 h", "4.2 d" — for ages and durations. */
export function formatDuration(ms) {
  if (typeof ms !== "number" || !isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const min = s / 60;
  if (min < 60) return `${min.toFixed(min < 10 ? 1 : 0)} min`;
  const hours = min / 60;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} d`;
}

/** Local date and time of epoch milliseconds, or "-". */
export function formatTime(ms) {
  if (typeof ms !== "number" || ms <= 0) return "-";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A cell showing how long ago `ms` was, with the time itself as a tooltip. */
export function agoCell(ms) {
  if (typeof ms !== "number" || ms <= 0) return "-";
  return h("span", { title: formatTime(ms) }, formatDuration(Date.now() - ms) + " ago");
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** The breadcrumbs in the header bar. Each crumb is [text, path under /ui/] or [text]. */
export function crumbs(...items) {
  const nav = document.getElementById("crumbs");
  replace(nav, items.map(([text, path]) => (path === undefined ? h("span", {}, text) : uiLink(path, text))));
}

/** Shows an error in place of the page's content. */
export function showError(main, error) {
  const status = error instanceof ApiError ? error.status : null;
  const hint = status === 401 ? " Log in again and reload the page." : "";
  replace(main, h("div", { class: "error", role: "alert", id: "error" }, String(error.message || error) + hint));
}

const statusLine = () => document.getElementById("status");

/**
 * Calls `refresh` now and again later, without reloading the page: every `min` ms while it
 * reports changes, backing off to `max` when nothing changes or requests fail, paused while the
 * tab is hidden and resumed at once when it shows again. `refresh` returns true when the data
 * changed; it may throw to stop polling for good (`error.final`).
 */
export function poll(refresh, { min = 2000, max = 30000 } = {}) {
  let delay = min;
  let timer = null;
  let running = false;
  let stopped = false;

  const schedule = () => {
    if (stopped || document.hidden || timer !== null || running) return;
    timer = setTimeout(tick, delay);
  };
  const tick = async () => {
    timer = null;
    if (stopped || running) return;
    if (document.hidden) {
      statusLine().textContent = "paused";
      return;
    }
    running = true;
    try {
      const changed = await refresh();
      delay = changed ? min : Math.min(max, Math.round(delay * 1.5));
      statusLine().textContent = `updated ${formatTime(Date.now())}`;
      statusLine().dataset.updates = String(Number(statusLine().dataset.updates || 0) + 1);
    } catch (error) {
      if (error && error.final) {
        stopped = true;
        statusLine().textContent = "";
      } else {
        delay = Math.min(max, delay * 2);
        statusLine().textContent = `update failed: ${error.message || error}; retrying`;
      }
    } finally {
      running = false;
    }
    schedule();
  };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      statusLine().textContent = "paused";
    } else {
      delay = min;
      clearTimeout(timer);
      timer = null;
      tick();
    }
  });
  tick();
}

/** An error that ends polling (the session is gone, or the user may not view it). */
export function finalError(error) {
  if (error instanceof ApiError && [403, 404].includes(error.status)) error.final = true;
  return error;
}
