// Version comparison: both diagrams side by side, coloured by what changed.
(function () {
  "use strict";

  const holder = document.getElementById("diff-diagrams");
  if (!holder) {
    return;
  }
  const MARKERS = { added: "diff-added", changed: "diff-changed", removed: "diff-removed" };
  // The older diagram shows what was removed; the newer what was added or changed.
  const SHOWN_ON = { older: ["removed", "changed"], newer: ["added", "changed"] };

  function changes() {
    try {
      return JSON.parse(holder.dataset.changes || "{}");
    } catch (error) {
      return {};
    }
  }

  function showError(container, detail) {
    const message = document.createElement("p");
    message.className = "procedure-diagram__error";
    message.textContent = container.dataset.errorMessage || "The diagram cannot be shown.";
    container.replaceChildren(message);
    if (window.console) {
      window.console.warn("diagram not shown:", detail);
    }
  }

  async function draw(container, found) {
    if (typeof window.BpmnJS !== "function") {
      showError(container, "the diagram viewer did not load");
      return;
    }
    const response = await fetch(container.dataset.diagramUrl, { credentials: "same-origin" });
    if (!response.ok) {
      showError(container, "HTTP " + response.status);
      return;
    }
    const viewer = new window.BpmnJS({ container: container });
    try {
      await viewer.importXML(await response.text());
    } catch (error) {
      showError(container, error);
      return;
    }
    viewer.get("canvas").zoom("fit-viewport");
    const registry = viewer.get("elementRegistry");
    const canvas = viewer.get("canvas");
    SHOWN_ON[container.dataset.side].forEach(function (kind) {
      (found[kind] || []).forEach(function (change) {
        if (registry.get(change.id)) {
          canvas.addMarker(change.id, MARKERS[kind]);
        }
      });
    });
    container.dataset.drawn = "true";
  }

  const found = changes();
  holder.querySelectorAll(".procedure-diagram").forEach(function (container) {
    draw(container, found);
  });
})();
