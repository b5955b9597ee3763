// A session's page (/ui/session/{id}): its summary and its statements with code, state,
// progress, duration and rendered output, refreshed in place (only changed rows are redrawn).

import {
  agoCell, appIdCell, crumbs, finalError, formatDuration, formatTime, getJson, h, logLinks, poll, replace, showError, stateBadge,
} from "./common.js";
import { renderOutput } from "./output.js";

function summary(s) {
  const item = (label, value) => [h("dt", {}, label), h("dd", {}, value ?? "")];
  return h(
    "dl",
    { class: "summary", id: "session-summary" },
    item("Application Id", appIdCell(s)),
    item("Name", s.name),
    item("Owner", s.owner),
    item("Proxy User", s.proxyUser),
    item("Session Kind", s.kind),
    item("State", stateBadge(s.state)),
    item("Created", h("span", {}, formatTime(s.createdAt), " (", agoCell(s.createdAt), ")")),
    item("Last Activity", agoCell(s.lastActivity)),
    item("Logs", logLinks(s, "session")),
  );
}

function progress(value) {
  const p = typeof value === "number" && isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
  const bar = h("progress", { max: "1", value: String(p) });
  return h("span", { class: "progress" }, bar, ` ${Math.round(p * 100)}%`);
}

function duration(st) {
  if (!(st.started > 0)) return "-";
  const end = st.completed > 0 ? st.completed : Date.now();
  return formatDuration(end - st.started) + (st.completed > 0 ? "" : " so far");
}

function statementRow(st) {
  return h(
    "tr",
    { "data-id": st.id },
    h("td", { "data-col": "id" }, String(st.id)),
    h("td", { "data-col": "code" }, h("pre", { class: "code" }, String(st.code ?? ""))),
    h("td", { "data-col": "state" }, stateBadge(st.state)),
    h("td", { "data-col": "progress" }, progress(st.progress)),
    h("td", { "data-col": "output" }, renderOutput(st.output)),
    h("td", { "data-col": "started" }, formatTime(st.started)),
    h("td", { "data-col": "duration" }, duration(st)),
  );
}

export function start(main, id) {
  crumbs(["Sessions", ""], [`Session ${id}`]);
  const head = h("div");
  const count = h("span", { class: "count" });
  const body = h("tbody");
  const table = h(
    "table",
    { id: "statements", class: "grid statements" },
    h("thead", {}, h("tr", {}, ["Id", "Code", "State", "Progress", "Output", "Started", "Duration"].map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  const none = h("p", { class: "empty", id: "no-statements" }, "No statements have been submitted yet.");
  replace(main, h("h2", {}, `Session ${id}`), head, h("h3", {}, "Statements ", count), none, table);

  // Statement id -> [JSON last drawn, its row]: a row is redrawn only when its statement changed,
  // so pictures are not decoded again on every tick.
  const drawn = new Map();
  let lastSession = "";
  poll(async () => {
    let answer;
    try {
      answer = await getJson(`/ui/api/sessions/${id}`);
    } catch (error) {
      showError(main, error);
      throw finalError(error);
    }
    let changed = false;
    const s = JSON.stringify(answer.session);
    if (s !== lastSession) {
      replace(head, summary(answer.session));
      lastSession = s;
      changed = true;
    }
    const seen = new Set();
    let previous = null;
    for (const st of answer.statements) {
      seen.add(st.id);
      const json = JSON.stringify(st);
      let entry = drawn.get(st.id);
      const running = !(st.completed > 0);
      if (!entry || entry[0] !== json || running) {
        const row = statementRow(st);
        if (entry) entry[1].replaceWith(row);
        else if (previous) previous.after(row);
        else body.prepend(row);
        changed = changed || !entry || entry[0] !== json;
        entry = [json, row];
        drawn.set(st.id, entry);
      }
      previous = entry[1];
    }
    for (const [sid, [, row]] of drawn) {
      if (!seen.has(sid)) {
        row.remove();
        drawn.delete(sid);
        changed = true;
      }
    }
    count.textContent = `(${answer.total_statements})`;
    none.hidden = answer.statements.length > 0;
    table.hidden = answer.statements.length === 0;
    return changed;
  }, { min: 1500, max: 15000 });
}
