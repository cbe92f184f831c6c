// Classify: an image against typed labels (POST /v1/polymodal/classify) -> a bar per label
// with its score, and beside them the advisor's warnings on labels CLIP judges poorly; the
// warnings show while the labels are typed too (POST /v1/polymodal/check, debounced).

import { clearError, postForm, postJSON, showError } from "../api.js";
import { debounce, dropZone, errorBox, field, h, percent, statusLine, working } from "../ui.js";

function labelsOf(text) {
  return text
    .split(/[,\n]/)
    .map((label) => label.trim())
    .filter(Boolean);
}

function bars(item) {
  return h(
    "ul",
    { className: "bars", "aria-label": `Scores for ${item.path}` },
    item.scores.map((score) =>
      h(
        "li",
        { className: `bar${score.selected ? " selected" : ""}`, dataset: { label: score.label } },
        h("span", { className: "label" }, score.label),
        h(
          "span",
          {
            className: "track",
            role: "meter",
            "aria-valuemin": "0",
            "aria-valuemax": "100",
            "aria-valuenow": String(Math.round(score.probability * 100)),
            "aria-label": score.label,
          },
          h("span", { className: "fill", style: `width: ${(score.probability * 100).toFixed(1)}%` }),
        ),
        h("span", { className: "value" }, percent(score.probability)),
      ),
    ),
  );
}

/** The advisor's word on the labels: what CLIP cannot judge and what to use instead; and
 * what the object detector counted for counting labels, where the server has one. */
function adviceList(advice, notes = [], counts = []) {
  if (!advice.length && !notes.length && !counts.length) return h("p", { className: "verdict ok" }, "✓ No warnings on these labels.");
  return h(
    "ul",
    { className: "advice" },
    advice.map((a) =>
      h(
        "li",
        { dataset: { kind: a.kind, label: a.label } },
        h("strong", {}, `“${a.label}”: ${a.reason}`),
        a.alternative ? `Instead: ${a.alternative}` : "",
      ),
    ),
    counts.map((c) =>
      h("li", { className: "count", dataset: { label: c.label } }, `The detector counts ${c.count} ${c.target} in ${c.path} (for “${c.label}”).`),
    ),
    notes.map((note) => h("li", { className: "route-note" }, note)),
  );
}

function render(results, answer, preview) {
  const items = answer.items.map((item) =>
    h("div", { className: "scored" }, answer.items.length > 1 ? h("h3", {}, item.path) : null, bars(item)),
  );
  const failures = (answer.failures || []).map((f) => h("p", { className: "error" }, `${f.path}: ${f.reason}`));
  results.replaceChildren(
    h(
      "div",
      { className: "results-split" },
      h("div", {}, preview, ...items, ...failures),
      h("aside", { "aria-label": "Advisor" }, h("h3", {}, "Advisor"), adviceList(answer.advice || [], answer.route_notes || [], answer.counts || [])),
    ),
  );
}

export function mount(panel) {
  let chosen = null;
  const error = errorBox();
  const status = statusLine();
  const results = h("div", { className: "results", "aria-live": "polite" });
  const advisor = h("div", { className: "label-advice", "aria-live": "polite" });
  const labels = field(
    "Labels",
    (id) => h("input", { id, type: "text", value: "a photo of a person, a cup of coffee, a cat", autocomplete: "off" }),
    "Separate labels with commas.",
  );
  const button = h("button", { type: "button", className: "primary", disabled: true }, "Classify");

  async function classify() {
    const chosenLabels = labelsOf(labels.input.value);
    clearError(error);
    if (!chosen) return;
    if (!chosenLabels.length) {
      showError(error, new Error("Type at least one label."));
      return;
    }
    const form = new FormData();
    form.append("images", chosen, chosen.name);
    for (const label of chosenLabels) form.append("labels", label);
    const preview = h("img", { className: "preview", src: URL.createObjectURL(chosen), alt: chosen.name });
    try {
      const answer = await working(button, status, "Classifying…", () => postForm("/v1/polymodal/classify", form));
      advisor.replaceChildren();
      render(results, answer, preview);
    } catch (failure) {
      results.replaceChildren();
      showError(error, failure);
    }
  }

  let asked = 0;
  const checkLabels = debounce(async () => {
    const query = labelsOf(labels.input.value);
    const mine = ++asked;
    if (!query.length) return advisor.replaceChildren();
    try {
      const checks = await postJSON("/v1/polymodal/check", { query });
      const advice = checks.flatMap((check, i) =>
        check.ok ? [] : check.verdicts.filter((v) => v.kind !== "ok").map((v) => ({ ...v, label: query[i] })),
      );
      if (mine === asked) advisor.replaceChildren(advice.length ? adviceList(advice) : "");
    } catch {
      /* the classification itself reports errors; a failed preview check stays quiet */
    }
  }, 400);
  labels.input.addEventListener("input", checkLabels);
  labels.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") classify();
  });

  const drop = dropZone({
    label: "Image",
    accept: "image/*",
    onFiles: ([file]) => {
      chosen = file;
      button.disabled = false;
      classify();
    },
  });
  button.addEventListener("click", classify);

  panel.append(
    h("h2", {}, "Classify an image"),
    h(
      "div",
      { className: "card form" },
      h("div", { className: "wide" }, drop.zone),
      h("div", { className: "wide" }, labels.wrapper),
      h("div", { className: "actions" }, button),
    ),
    advisor,
    status,
    error,
    results,
  );
}
