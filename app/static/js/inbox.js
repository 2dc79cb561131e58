// Inbox: on a phone, fold the filter and saved-view panels until they are opened.
(function () {
  "use strict";

  if (!window.matchMedia("(max-width: 576px)").matches) {
    return;
  }
  document.querySelectorAll("details[data-fold-on-phone]").forEach(function (panel) {
    panel.open = false;
  });
})();

// Inbox: a "select all" box for the bulk actions, shown only when scripts run.
(function () {
  "use strict";

  const selectAll = document.getElementById("select-all");
  if (!selectAll) {
    return;
  }
  const boxes = Array.from(document.querySelectorAll(".inbox-select"));

  selectAll.addEventListener("change", function () {
    boxes.forEach(function (box) {
      box.checked = selectAll.checked;
    });
  });

  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      const checked = boxes.filter(function (b) { return b.checked; }).length;
      selectAll.checked = checked === boxes.length;
      selectAll.indeterminate = checked > 0 && checked < boxes.length;
    });
  });
})();
