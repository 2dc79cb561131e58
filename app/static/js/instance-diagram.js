// Draws an instance's procedure diagram and marks the steps done and waiting.
(function () {
  "use strict";

  const COMPLETED_CLASS = "step-completed";
  const CURRENT_CLASS = "step-current";

  function readIds(container, name) {
    try {
      const ids = JSON.parse(container.dataset[name] || "[]");
      return Array.isArray(ids) ? ids : [];
    } catch (error) {
      return [];
    }
  }

  function showError(container, detail) {
    const message = document.createElement("p");
    message.className = "instance-diagram__error";
    message.textContent = container.dataset.errorMessage || "The diagram cannot be shown.";
    container.replaceChildren(message);
    container.classList.add("instance-diagram--failed");
    if (window.console) {
      window.console.warn("diagram not shown:", detail);
    }
  }

  function mark(viewer, ids, className) {
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    ids.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, className);
      }
    });
  }

  async function draw(container) {
    if (typeof window.BpmnJS !== "function") {
      showError(container, "the diagram viewer did not load");
      return;
    }
    const response = await fetch(container.dataset.diagramUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/xml" },
    });
    if (!response.ok) {
      showError(container, "HTTP " + response.status);
      return;
    }
    const xml = await response.text();
    const viewer = new window.BpmnJS({ container: container });
    try {
      await viewer.importXML(xml);
    } catch (error) {
      showError(container, error);
      return;
    }
    viewer.get("canvas").zoom("fit-viewport");
    mark(viewer, readIds(container, "completed"), COMPLETED_CLASS);
    mark(viewer, readIds(container, "current"), CURRENT_CLASS);
    container.classList.add("instance-diagram--ready");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const container = document.getElementById("instance-diagram");
    if (container) {
      draw(container).catch(function (error) {
        showError(container, error);
      });
    }
  });
})();
