// A statement's output as a user expects to see it: text as text, SQL and %table results as a
// table, %matplot pictures as an image, errors with their traceback, anything else as JSON.

import { h } from "./common.js";

/** The rendered output of a statement (`output` as the REST API shows it), or null. */
export function renderOutput(output) {
  if (!output || typeof output !== "object") return null;
  if (output.status === "error") return renderError(output);
  const data = output.data && typeof output.data === "object" ? output.data : {};
  const parts = [];
  if (typeof data["image/png"] === "string") parts.push(image(data["image/png"]));
  for (const type of ["application/vnd.livy.table.v1+json", "application/json"]) {
    if (type in data) parts.push(table(data[type]) || pre(JSON.stringify(data[type], null, 2), "json"));
  }
  const text = data["text/plain"];
  if (typeof text === "string" && (text !== "" || parts.length === 0)) parts.push(pre(text, "text"));
  for (const [type, value] of Object.entries(data)) {
    if (!["image/png", "application/vnd.livy.table.v1+json", "application/json", "text/plain"].includes(type)) {
      parts.push(h("div", { class: "mime" }, type), pre(typeof value === "string" ? value : JSON.stringify(value, null, 2), "other"));
    }
  }
  return h("div", { class: "output" }, parts);
}

function pre(text, kind) {
  return h("pre", { class: `out-${kind}` }, text);
}

function renderError(output) {
  const trace = Array.isArray(output.traceback) ? output.traceback.map(String).join("") : "";
  return h(
    "div",
    { class: "output out-error" },
    h("div", { class: "ename" }, String(output.ename ?? "Error"), ": ", h("span", { class: "evalue" }, String(output.evalue ?? ""))),
    trace ? pre(trace, "traceback") : null,
  );
}

/** `image/png` is base64 text; anything else is not put into a data: URL. */
function image(base64) {
  const clean = base64.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return pre("(an image/png output that is not base64)", "text");
  const img = h("img", { class: "out-image", alt: "image/png output" });
  img.setAttribute("src", "data:image/png;base64," + clean);
  return img;
}

/**
 * A table from the shapes Livy's interpreters return: SQL's `{"schema": {"fields": [...]},
 * "data": [[...]]}` and %table's `{"headers": [{"name": ...}], "data": [[...]]}`. Null when the
 * value is neither.
 */
function table(value) {
  if (!value || typeof value !== "object" || !Array.isArray(value.data)) return null;
  let names = null;
  if (value.schema && Array.isArray(value.schema.fields)) names = value.schema.fields.map((f) => f && f.name);
  else if (Array.isArray(value.headers)) names = value.headers.map((c) => (c && typeof c === "object" ? c.name : c));
  if (!names) return null;
  const cell = (v) => (v === null || v === undefined ? h("span", { class: "null" }, "null") : typeof v === "object" ? JSON.stringify(v) : String(v));
  return h(
    "table",
    { class: "grid result" },
    h("thead", {}, h("tr", {}, names.map((n) => h("th", { scope: "col" }, String(n ?? ""))))),
    h("tbody", {}, value.data.map((row) => h("tr", {}, (Array.isArray(row) ? row : [row]).map((v) => h("td", {}, cell(v)))))),
  );
}
