// Math in statements: $...$ and $$...$$ in the text of cc-problem's HTML,
// typeset with KaTeX (loaded only by pages that show a statement with
// math). KaTeX builds DOM nodes and sets their styles through the CSSOM,
// so the strict Content-Security-Policy (no inline style attributes from
// markup) holds; its stylesheet is loaded from the hashed name index.html
// names.
import katex from "katex";

let cssLoaded = false;
function loadCss() {
  if (cssLoaded) return;
  cssLoaded = true;
  const meta = document.querySelector('meta[name="cc-katex-css"]');
  if (!meta) return;
  const l = document.createElement("link");
  l.rel = "stylesheet";
  l.href = meta.content;
  document.head.append(l);
}

const MATH = /\$\$([\s\S]+?)\$\$|\$([^$\n]+?)\$/g;

export function typeset(root) {
  loadCss();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) =>
      n.parentElement.closest("code, pre, .katex") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes = [];
  while (walker.nextNode()) if (walker.currentNode.nodeValue.includes("$")) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.nodeValue;
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(MATH)) {
      frag.append(text.slice(last, m.index));
      const span = document.createElement("span");
      katex.render(m[1] !== undefined ? m[1] : m[2], span, {
        displayMode: m[1] !== undefined,
        throwOnError: false,
        trust: false,
      });
      frag.append(span);
      last = m.index + m[0].length;
    }
    if (last === 0) continue;
    frag.append(text.slice(last));
    node.replaceWith(frag);
  }
}
