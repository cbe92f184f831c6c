// The page's frame: the API key field, the ARIA tabs (WAI-ARIA's tabs pattern with automatic
// activation: arrow keys, Home and End move between tabs), and one module per tab, each loaded
// on its own so that one missing or failing module leaves the others working.

import { apiKey, setApiKey } from "./api.js";

const TABS = ["transcribe", "live", "search", "classify", "duplicates", "generate", "check"];

function keyField() {
  const field = document.getElementById("api-key");
  field.value = apiKey() || "";
  field.addEventListener("input", () => {
    setApiKey(field.value);
    window.dispatchEvent(new CustomEvent("polymodal:apikey"));
  });
}

function tabs() {
  return [...document.querySelectorAll('[role="tablist"] [role="tab"]')];
}

function select(tab, focus = true) {
  for (const other of tabs()) {
    const chosen = other === tab;
    other.setAttribute("aria-selected", String(chosen));
    other.tabIndex = chosen ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
  }
  if (focus) tab.focus();
  const name = tab.id.replace(/^tab-/, "");
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

function onKey(event) {
  const all = tabs();
  const at = all.indexOf(event.target);
  if (at < 0) return;
  const moves = {
    ArrowRight: at + 1,
    ArrowDown: at + 1,
    ArrowLeft: at - 1,
    ArrowUp: at - 1,
    Home: 0,
    End: all.length - 1,
  };
  if (!(event.key in moves)) return;
  event.preventDefault();
  select(all[(moves[event.key] + all.length) % all.length]);
}

function wireTabs() {
  for (const tab of tabs()) tab.addEventListener("click", () => select(tab));
  document.getElementById("tabs").addEventListener("keydown", onKey);
  const asked = document.getElementById(`tab-${location.hash.slice(1)}`);
  if (asked) select(asked, false);
}

async function mountTab(name) {
  const panel = document.getElementById(`panel-${name}`);
  let module;
  try {
    module = await import(`./tabs/${name}.js`);
  } catch (error) {
    panel.dataset.missing = "true";
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = `This tab could not be loaded (${error.message}).`;
    panel.append(note);
    return;
  }
  try {
    await module.mount(panel);
  } catch (error) {
    const note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = `This tab failed to start: ${error.message}`;
    panel.append(note);
  }
}

keyField();
wireTabs();
await Promise.allSettled(TABS.map(mountTab));
document.body.dataset.ready = "true";
