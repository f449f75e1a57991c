// The code editor (CodeMirror 6), loaded only by the pages that edit code.
// Highlighting follows the chosen language where CodeMirror has it; other
// languages edit as plain text.
import { basicSetup, EditorView } from "codemirror";
import { Compartment, EditorState } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { cpp } from "@codemirror/lang-cpp";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";

// Token colours with at least 4.5:1 contrast on white and on the active
// line's tint (CodeMirror's default style has lighter ones).
const readable = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.modifier], color: "#5a1a8a" },
  { tag: [t.string, t.special(t.string), t.character], color: "#0a5a14" },
  { tag: [t.comment, t.lineComment, t.blockComment], color: "#4a4a4a", fontStyle: "italic" },
  { tag: [t.number, t.bool, t.atom], color: "#0b4a8a" },
  { tag: [t.typeName, t.className, t.standard(t.typeName)], color: "#7a3300" },
  { tag: [t.definition(t.variableName), t.function(t.variableName)], color: "#003f80" },
  { tag: [t.meta, t.processingInstruction], color: "#5c4400" },
  { tag: t.invalid, color: "#a40e26" },
]);

function modeFor(lang) {
  const id = (lang || "").toLowerCase();
  if (/^(c|cpp|c\+\+|cpp\d+|csharp|d|go|kotlin)/.test(id)) return id.startsWith("kotlin") || id === "csharp" || id === "go" || id === "d" ? java() : cpp();
  if (/^(python|pypy)/.test(id)) return python();
  if (id.startsWith("java")) return java();
  if (/^(javascript|js|node|typescript)/.test(id)) return javascript();
  if (id.startsWith("rust")) return rust();
  return [];
}

// An editor in parent with doc; returns {get(), set(text), setLanguage(id), focus()}.
// It lives in a shadow root: there CodeMirror's styles go into a
// constructed stylesheet, which the strict Content-Security-Policy allows,
// where on the document itself they would be a <style> element, which it
// blocks.
export function createEditor(parent, doc, lang, label) {
  const mode = new Compartment();
  const shadow = parent.attachShadow({ mode: "open" });
  const inner = document.createElement("div");
  shadow.append(inner);
  const view = new EditorView({
    root: shadow,
    parent: inner,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        // Tab indents; Escape then Tab leaves the editor (keyboard users are
        // never trapped), as CodeMirror documents.
        keymap.of([indentWithTab]),
        mode.of(modeFor(lang)),
        syntaxHighlighting(readable),
        // The editor grows with its code and wraps long lines: nothing in
        // it scrolls on its own, so nothing needs a focus of its own.
        EditorView.lineWrapping,
        EditorView.theme({
          "&": { minHeight: "220px", fontSize: "14px" },
          "&.cm-focused": { outline: "3px solid #1a56b0" },
        }),
        EditorView.contentAttributes.of({ "aria-label": label || "Source code" }),
      ],
    }),
  });
  return {
    get: () => view.state.doc.toString(),
    set: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setLanguage: (id) => view.dispatch({ effects: mode.reconfigure(modeFor(id)) }),
    focus: () => view.focus(),
    view,
  };
}
