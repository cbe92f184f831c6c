// Check: the advisor's verdict on a query as it is typed (POST /v1/polymodal/check, debounced;
// an answer that arrives after a newer question is dropped).

import { clearError, postJSON, showError } from "../api.js";
import { debounce, errorBox, field, h } from "../ui.js";

/** The advisor's verdicts as a list: one line when CLIP can answer, else each limit's advice. */
export function verdictList(check) {
  if (check.ok) {
    const reason = check.verdicts[0]?.reason || "CLIP can answer this query.";
    return h("p", { className: "verdict ok" }, `✓ ${reason}`);
  }
  return h(
    "ul",
    { className: "advice" },
    check.verdicts
      .filter((verdict) => verdict.kind !== "ok")
      .map((verdict) =>
        h(
          "li",
          { dataset: { kind: verdict.kind } },
          h("strong", {}, `${verdict.kind}: ${verdict.reason}`),
          verdict.alternative ? `Instead: ${verdict.alternative}` : "",
        ),
      ),
  );
}

export function mount(panel) {
  const { wrapper, input } = field(
    "Query",
    (id) => h("input", { id, type: "text", placeholder: "three red cars left of a truck", autocomplete: "off" }),
    "What you would ask CLIP: the advisor says whether it can answer, and what to use if not.",
  );
  const answer = h("div", { className: "check-answer", "aria-live": "polite" });
  const error = errorBox();
  let asked = 0;

  const ask = debounce(async () => {
    const query = input.value.trim();
    const mine = ++asked;
    clearError(error);
    if (!query) {
      answer.replaceChildren();
      return;
    }
    try {
      const check = await postJSON("/v1/polymodal/check", { query });
      if (mine === asked) answer.replaceChildren(verdictList(check));
    } catch (failure) {
      if (mine === asked) {
        answer.replaceChildren();
        showError(error, failure);
      }
    }
  }, 250);
  input.addEventListener("input", ask);

  panel.append(
    h("h2", {}, "Check a query"),
    h("div", { className: "card" }, wrapper),
    error,
    answer,
  );
}
