// DOM helpers. Text always goes in as text (textContent), never as markup:
// what a user or a setter typed cannot become an element or a script.

// el("button", {class: "x", onclick: fn}, "text", child...)
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "value") e.value = v;
    else if (k === "checked") e.checked = !!v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  append(e, children);
  return e;
}

export function append(parent, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

export function clear(e) {
  while (e.firstChild) e.firstChild.remove();
  return e;
}

// A link inside the app: navigates without a reload.
export function link(href, ...children) {
  return el("a", { href, "data-app": "1" }, ...children);
}

// A labelled form field: the label, the control, and a slot under it where
// an API error that names this field is shown (aria-describedby points at it).
let fieldSeq = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  const err = el("p", { class: "field-error", id: `${id}-err`, role: "alert" });
  const hintEl = hint ? el("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  control.setAttribute("aria-describedby", [hintEl && hintEl.id, err.id].filter(Boolean).join(" "));
  return el("div", { class: "field", "data-field": control.name || "" }, el("label", { for: id }, label), control, hintEl, err);
}

// Shows an API error next to the field it names (RFC 9457 "field"), or in
// the form's general slot.
export function showError(form, error) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (!error) {
    if (general) general.textContent = "";
    return;
  }
  const name = error.field || "";
  const control = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    const slot = form.querySelector(`#${CSS.escape(control.id)}-err`);
    if (slot) slot.textContent = error.message;
    if (general) general.textContent = "";
    control.focus();
  } else if (general) {
    general.textContent = error.message;
  }
}

export function formatTime(rfc3339) {
  if (!rfc3339) return "";
  const d = new Date(rfc3339);
  return isNaN(d) ? rfc3339 : d.toLocaleString();
}
