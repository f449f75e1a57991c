// The code editor (CodeMirror 6), loaded only by the pages that edit code.
// Highlighting follows the chosen language where CodeMirror has it; other
// languages edit as plain text.
import { basicSetup, EditorView } from "codemirror";
import { Compartment, EditorState } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { cpp } from "@codemirror/lang-cpp";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";

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
export function createEditor(parent, doc, lang, label) {
  const mode = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        // Tab indents; Escape then Tab leaves the editor (keyboard users are
        // never trapped), as CodeMirror documents.
        keymap.of([indentWithTab]),
        mode.of(modeFor(lang)),
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
