// Search: a collection searched by words or by an example image (POST
// /v1/polymodal/collections/search with thumbnails=true: each hit carries a small inline JPEG
// of its own file), shown as a grid with each hit's confidence; "nothing matches" as such.

import { clearError, getJSON, postForm, showError } from "../api.js";
import { basename, debounce, dropZone, errorBox, field, h, percent, statusLine, working } from "../ui.js";

function hitFigure(hit) {
  const picture = hit.thumbnail
    ? h("img", { src: hit.thumbnail, alt: basename(hit.path), loading: "lazy" })
    : h("p", { className: "empty" }, "(file no longer readable)");
  return h(
    "figure",
    { className: "hit", dataset: { rank: hit.rank, name: basename(hit.path) } },
    picture,
    h(
      "figcaption",
      {},
      h("span", { className: "confidence" }, `#${hit.rank} · ${percent(hit.confidence)} confident`),
      h("br"),
      h("span", { className: "hint", title: hit.path }, basename(hit.path)),
    ),
  );
}

function render(results, answer) {
  const notes = [...(answer.advice || []).map((a) => `${a.reason} ${a.alternative || ""}`.trim())];
  const found = answer.hits.length
    ? [
        h("p", { className: "summary" }, `${answer.hits.length} match(es) among ${answer.considered} image(s) for “${answer.query}”.`),
        h("div", { className: "grid" }, answer.hits.map(hitFigure)),
      ]
    : [h("p", { className: "empty nothing" }, answer.message || "Nothing matches.")];
  results.replaceChildren(...notes.map((text) => h("p", { className: "note" }, text)), ...found);
}

export async function mount(panel) {
  const error = errorBox();
  const status = statusLine();
  const results = h("div", { className: "results", "aria-live": "polite" });
  const collection = field("Collection", (id) => h("select", { id }));
  const query = field("Look for", (id) =>
    h("input", { id, type: "search", placeholder: "a dog on a beach", autocomplete: "off" }),
  );
  const floor = field(
    "Least score",
    (id) => h("input", { id, type: "number", step: "0.01", min: "-1", max: "1", placeholder: "confident only" }),
    "A cosine floor such as 0 shows the nearest images even when none is a confident match.",
  );
  const button = h("button", { type: "submit", className: "primary" }, "Search");
  const refresh = h("button", { type: "button", className: "secondary" }, "Reload list");

  async function search(fill) {
    clearError(error);
    if (!collection.input.value) {
      showError(error, new Error("Choose a collection first (index one with polymodal index)."));
      return;
    }
    const form = new FormData();
    form.append("collection", collection.input.value);
    form.append("thumbnails", "true");
    if (floor.input.value.trim()) form.append("min_score", floor.input.value.trim());
    fill(form);
    try {
      const answer = await working(button, status, "Searching…", () =>
        postForm("/v1/polymodal/collections/search", form),
      );
      render(results, answer);
    } catch (failure) {
      results.replaceChildren();
      showError(error, failure);
    }
  }

  async function loadCollections(select = null) {
    clearError(error);
    try {
      const listed = await getJSON("/v1/polymodal/collections");
      const options = listed.map((c) =>
        h("option", { value: c.name }, `${c.name} (${c.images} image${c.images === 1 ? "" : "s"})`),
      );
      collection.input.replaceChildren(...options);
      if (!listed.length) {
        collection.input.append(h("option", { value: "" }, "no collections yet"));
      }
      if (select) collection.input.value = select;
    } catch (failure) {
      collection.input.replaceChildren(h("option", { value: "" }, "(could not list)"));
      showError(error, failure);
    }
  }

  const form = h(
    "form",
    { className: "card form", role: "search" },
    collection.wrapper,
    query.wrapper,
    floor.wrapper,
    h("div", { className: "actions" }, button, refresh),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = query.input.value.trim();
    if (!text) {
      showError(error, new Error("Type what to look for, or drop an image."));
      return;
    }
    search((data) => data.append("text", text));
  });
  refresh.addEventListener("click", () => loadCollections());
  const drop = dropZone({
    label: "Find images like this one",
    accept: "image/*",
    onFiles: ([file]) => search((data) => data.append("image", file, file.name)),
  });
  // The key may be typed after the page loads: list again once it changes.
  window.addEventListener("polymodal:apikey", debounce(() => loadCollections(), 400));

  const adding = addImages(status, error, (name) => loadCollections(name), () => collection.input.value);
  panel.append(h("h2", {}, "Search a collection"), form, h("div", { className: "card" }, drop.zone), status, error, results, adding);
  await loadCollections();
}

/** "Add images": uploads kept by the server and indexed into a collection (made when new). */
function addImages(status, error, listed, current) {
  const target = field(
    "Add to collection",
    (id) => h("input", { id, type: "text", placeholder: "the chosen one, or a new name", autocomplete: "off" }),
    "Letters, digits, - and _.",
  );
  const report = h("p", { className: "summary", "aria-live": "polite" });
  const drop = dropZone({
    label: "Images to add",
    accept: "image/*",
    multiple: true,
    onFiles: async (files) => {
      clearError(error);
      const name = target.input.value.trim() || current();
      const form = new FormData();
      form.append("collection", name);
      for (const file of files) form.append("images", file, file.name);
      try {
        const added = await working(null, status, `Adding ${files.length} image(s) to ${name}…`, () =>
          postForm("/v1/polymodal/collections/add", form),
        );
        report.textContent = `${name}: ${added.added} added, ${added.unchanged} already there, ${added.total} in all.`;
        await listed(name);
      } catch (failure) {
        showError(error, failure);
      }
    },
  });
  return h("details", { className: "card add-images" }, h("summary", {}, "Add images to a collection"), target.wrapper, drop.zone, report);
}
