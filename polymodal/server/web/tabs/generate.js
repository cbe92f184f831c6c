// Generate: prompt, negative prompt, seed, steps and size (POST /v1/images/generations with
// our extension fields) -> the image with the parameters its PNG carries, and "Same again",
// which asks for exactly those parameters (the seed included) once more.

import { clearError, postJSON, showError } from "../api.js";
import { pngParameters } from "../png-info.js";
import { download, errorBox, field, h, statusLine, working } from "../ui.js";

const SIZES = ["auto", "64x64", "256x256", "512x512", "512x768", "768x512", "768x768", "1024x1024"];

function request(inputs) {
  const body = { prompt: inputs.prompt, response_format: "b64_json" };
  if (inputs.negative !== null) body.negative_prompt = inputs.negative;
  if (inputs.seed !== null) body.seed = inputs.seed;
  if (inputs.steps !== null) body.steps = inputs.steps;
  if (inputs.size && inputs.size !== "auto") body.size = inputs.size;
  return body;
}

function integer(text) {
  const value = text.trim();
  return value === "" ? null : Number(value);
}

function parameterList(shown) {
  return h(
    "dl",
    { className: "params" },
    Object.entries(shown).flatMap(([name, value]) => [
      h("dt", {}, name),
      h("dd", { dataset: { param: name.toLowerCase().replace(/\W+/g, "-") } }, String(value)),
    ]),
  );
}

export function mount(panel) {
  const error = errorBox();
  const status = statusLine();
  const result = h("div", { className: "result", "aria-live": "polite" });
  const prompt = field("Prompt", (id) => h("textarea", { id, rows: 2, placeholder: "a lighthouse at dusk, oil painting" }));
  const negative = field(
    "Negative prompt",
    (id) => h("input", { id, type: "text", autocomplete: "off" }),
    "What to avoid; blank: the library's default.",
  );
  const seed = field("Seed", (id) => h("input", { id, type: "number", min: 0, step: 1, placeholder: "random" }));
  const steps = field("Steps", (id) => h("input", { id, type: "number", min: 1, max: 150, step: 1, placeholder: "25" }));
  const size = field("Size", (id) => h("select", { id }, SIZES.map((s) => h("option", { value: s }, s === "auto" ? "model's own" : s))));
  const button = h("button", { type: "submit", className: "primary" }, "Generate");
  let last = null;

  async function generate(inputs) {
    clearError(error);
    if (!inputs.prompt.trim()) {
      showError(error, new Error("Describe the image in the prompt."));
      return;
    }
    try {
      const answer = await working(button, status, "Generating…", () => postJSON("/v1/images/generations", request(inputs)));
      show(answer, inputs);
    } catch (failure) {
      showError(error, failure);
    }
  }

  function show(answer, inputs) {
    const datum = answer.data[0];
    const carried = pngParameters(datum.b64_json);
    const seedUsed = carried?.seed ?? datum.seed;
    last = { ...inputs, seed: seedUsed, size: answer.size || inputs.size };
    const shown = {
      Prompt: carried?.prompt ?? inputs.prompt,
      "Negative prompt": carried?.negative ?? inputs.negative ?? "(default)",
      Seed: seedUsed,
      Steps: carried?.steps ?? inputs.steps ?? "(default)",
      Size: answer.size,
      ...(carried ? { Guidance: carried.guidance, Scheduler: carried.scheduler, Model: carried.model_name || carried.model } : {}),
    };
    const src = `data:image/png;base64,${datum.b64_json}`;
    const again = h("button", { type: "button", className: "secondary", dataset: { action: "again" } }, "Same again");
    again.addEventListener("click", () => generate(last));
    const save = h("button", { type: "button", className: "secondary" }, "Download PNG");
    save.addEventListener("click", async () => download(`polymodal-${seedUsed}.png`, await (await fetch(src)).blob()));
    result.replaceChildren(
      h(
        "div",
        { className: "generated" },
        h("img", { src, alt: shown.Prompt, dataset: { seed: seedUsed } }),
        h("div", {}, parameterList(shown), h("div", { className: "actions" }, again, save)),
      ),
    );
  }

  const form = h(
    "form",
    { className: "card form" },
    h("div", { className: "wide" }, prompt.wrapper),
    h("div", { className: "wide" }, negative.wrapper),
    seed.wrapper,
    steps.wrapper,
    size.wrapper,
    h("div", { className: "actions" }, button),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate({
      prompt: prompt.input.value,
      negative: negative.input.value.trim() ? negative.input.value : null,
      seed: integer(seed.input.value),
      steps: integer(steps.input.value),
      size: size.input.value,
    });
  });
  prompt.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  panel.append(h("h2", {}, "Generate an image"), form, status, error, result);
}
