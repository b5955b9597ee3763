// The log pages (/ui/session/{id}/log, /ui/batch/{id}/log): the server's log answer split into
// stdout, stderr and the diagnostics after them (YARN's, or why livy-rs ended it), following new
// lines as they come.
//
// The whole log (`size=-1`) is read on each tick rather than the lines after an offset: the
// answer is two bounded rings (livy.cache-log.size lines each) and the diagnostics one after the
// other, so an offset does not name the same line from one answer to the next; the answer is
// bounded by those rings.

import { crumbs, finalError, getJson, h, poll, replace, showError } from "./common.js";

/**
 * Splits the server's rendering: `stdout: `, its lines, `\nstderr: `, its lines, then any
 * diagnostics. A line of a stream never contains a newline, so the first line after stderr's
 * that starts with one begins the diagnostics (`\nYARN Diagnostics: `, `\nlivy-rs: ...`).
 */
export function splitLog(lines) {
  if (!lines.length || !String(lines[0]).startsWith("stdout")) return { stdout: lines.map(String), stderr: [], diagnostics: [] };
  const out = { stdout: [], stderr: [], diagnostics: [] };
  let i = 1;
  for (; i < lines.length && !String(lines[i]).startsWith("\nstderr"); i++) out.stdout.push(String(lines[i]));
  for (i++; i < lines.length && !String(lines[i]).startsWith("\n"); i++) out.stderr.push(String(lines[i]));
  for (; i < lines.length; i++) {
    const line = String(lines[i]);
    if (line.trim() === "YARN Diagnostics:") continue;
    out.diagnostics.push(line.startsWith("\n") ? line.slice(1) : line);
  }
  return out;
}

class Section {
  constructor(key, title) {
    this.lines = [];
    this.pre = h("pre", { class: "log", id: `log-${key}` });
    this.section = h("section", { class: "log-section empty" }, h("h2", {}, title), this.pre);
  }

  /** Shows `lines`, appending when they only add to what is shown; true when anything changed. */
  update(lines, follow) {
    const old = this.lines;
    if (lines.length === old.length && lines.every((l, i) => l === old[i])) return false;
    const extends_ = old.length > 0 && lines.length > old.length && old.every((l, i) => l === lines[i]);
    if (extends_) this.pre.append("\n" + lines.slice(old.length).join("\n"));
    else this.pre.textContent = lines.join("\n");
    this.lines = lines;
    this.section.classList.toggle("empty", lines.length === 0);
    if (follow) this.pre.scrollTop = this.pre.scrollHeight;
    return true;
  }
}

export function start(main, kind, id) {
  const name = kind === "session" ? "Session" : "Batch";
  crumbs(["Sessions", ""], kind === "session" ? [`${name} ${id}`, `session/${id}`] : [`${name} ${id}`], ["Log"]);
  const sections = {
    stdout: new Section("stdout", "stdout"),
    stderr: new Section("stderr", "stderr"),
    diagnostics: new Section("diagnostics", "Diagnostics"),
  };
  const follow = h("input", { type: "checkbox", id: "follow", checked: "" });
  const note = h("p", { class: "note" }, "Only the most recent lines are kept (livy.cache-log.size per stream).");
  replace(
    main,
    h("h2", {}, `${name} ${id} Log`),
    h("div", { class: "tools" }, h("label", {}, follow, " Follow new lines")),
    note,
    Object.values(sections).map((s) => s.section),
  );
  const path = kind === "session" ? `/ui/api/sessions/${id}/log?size=-1` : `/ui/api/batches/${id}/log?size=-1`;
  poll(async () => {
    let answer;
    try {
      answer = await getJson(path);
    } catch (error) {
      showError(main, error);
      throw finalError(error);
    }
    const parts = splitLog(Array.isArray(answer.log) ? answer.log : []);
    let changed = false;
    for (const key of Object.keys(sections)) changed = sections[key].update(parts[key], follow.checked) || changed;
    return changed;
  }, { min: 1500, max: 10000 });
}
