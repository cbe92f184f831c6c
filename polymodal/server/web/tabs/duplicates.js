// Duplicates: a set of dropped images (POST /v1/polymodal/dedup) -> each group of copies side
// by side, the suggested keeper first and marked; nothing is moved or deleted. The server
// names files as they were uploaded, so the page shows its own copies of them.

import { clearError, postForm, showError } from "../api.js";
import { dropZone, errorBox, h, percent, statusLine, working } from "../ui.js";

const KINDS = {
  exact: "Exact copies",
  "near-exact": "Near copies (edited, resized, rotated or mirrored)",
  semantic: "Look-alikes",
};

/** Upload names unique within the set (two "IMG_0001.jpg" from two folders stay apart). */
function uniquelyNamed(files) {
  const seen = new Map();
  return files.map((file) => {
    const count = seen.get(file.name) || 0;
    seen.set(file.name, count + 1);
    return { file, name: count ? `${count + 1}-${file.name}` : file.name };
  });
}

function copyFigure(entry, urls) {
  const keeper = entry.match === "keeper";
  const detail = keeper
    ? "keep"
    : entry.match === "exact"
      ? "exact copy"
      : `${entry.match} · ${percent(entry.similarity)} alike`;
  return h(
    "figure",
    { className: `copy${keeper ? " keeper" : ""}`, dataset: { name: entry.path, match: entry.match } },
    h("img", { src: urls.get(entry.path) || "", alt: entry.path }),
    h(
      "figcaption",
      {},
      h("span", { className: "badge" }, detail),
      h("br"),
      entry.path,
      h("br"),
      h("span", { className: "hint" }, `${entry.width}×${entry.height} · ${Math.round(entry.size_bytes / 1024)} KB`),
    ),
  );
}

function render(results, answer, urls) {
  const groups = answer.groups.map((group, index) => {
    const files = [...group.files].sort((a, b) => (b.match === "keeper") - (a.match === "keeper"));
    return h(
      "section",
      { className: "group card", "aria-label": `Group ${index + 1}`, dataset: { kind: group.kind } },
      h("h3", {}, `${KINDS[group.kind] || group.kind}: keep ${group.keeper}`),
      h("div", { className: "copies" }, files.map((f) => copyFigure(f, urls))),
    );
  });
  const failures = (answer.failures || []).map((f) => h("p", { className: "error" }, `${f.path}: ${f.reason}`));
  results.replaceChildren(
    h(
      "p",
      { className: groups.length ? "summary" : "empty nothing" },
      groups.length
        ? `${groups.length} group(s) of duplicates among ${answer.scanned} image(s).`
        : `No duplicates among ${answer.scanned} image(s).`,
    ),
    ...failures,
    ...groups,
  );
}

export function mount(panel) {
  let chosen = [];
  const error = errorBox();
  const status = statusLine();
  const results = h("div", { className: "results", "aria-live": "polite" });
  const semantic = h("input", { type: "checkbox", id: "dedup-semantic", checked: true });
  const button = h("button", { type: "button", className: "primary", disabled: true }, "Find duplicates");
  let urls = new Map();

  async function run() {
    clearError(error);
    if (chosen.length < 2) {
      showError(error, new Error("Choose at least two images to compare."));
      return;
    }
    for (const url of urls.values()) URL.revokeObjectURL(url);
    const named = uniquelyNamed(chosen);
    urls = new Map(named.map(({ file, name }) => [name, URL.createObjectURL(file)]));
    const form = new FormData();
    for (const { file, name } of named) form.append("images", file, name);
    form.append("semantic", String(semantic.checked));
    try {
      const answer = await working(button, status, `Comparing ${named.length} images…`, () =>
        postForm("/v1/polymodal/dedup", form),
      );
      render(results, answer, urls);
    } catch (failure) {
      results.replaceChildren();
      showError(error, failure);
    }
  }

  const drop = dropZone({
    label: "Images",
    accept: "image/*",
    multiple: true,
    onFiles: (files) => {
      chosen = files;
      button.disabled = false;
      run();
    },
  });
  button.addEventListener("click", run);

  panel.append(
    h("h2", {}, "Find duplicates"),
    h(
      "div",
      { className: "card form" },
      h("div", { className: "wide" }, drop.zone),
      h("div", { className: "field check-field" }, semantic, h("label", { htmlFor: "dedup-semantic" }, "Also group look-alikes (CLIP)")),
      h("div", { className: "actions" }, button),
    ),
    status,
    error,
    results,
  );
}
