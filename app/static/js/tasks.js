// Task pages: live character counters and showing the parts a decision needs.
(function () {
  "use strict";

  function updateCounter(textarea, counter) {
    var max = parseInt(counter.getAttribute("data-max"), 10);
    var used = textarea.value.length;
    counter.textContent = used + " / " + max;
    counter.classList.toggle("char-counter--over", used > max);
  }

  function bindCounters() {
    document.querySelectorAll("[data-counter-for]").forEach(function (counter) {
      var textarea = document.getElementById(counter.getAttribute("data-counter-for"));
      if (!textarea) {
        return;
      }
      textarea.addEventListener("input", function () {
        updateCounter(textarea, counter);
      });
      updateCounter(textarea, counter);
    });
  }

  function showDecisionParts(form) {
    var chosen = form.querySelector("input[name='decision']:checked");
    var value = chosen ? chosen.value : "";
    form.querySelectorAll("[data-shown-for]").forEach(function (part) {
      var wanted = part.getAttribute("data-shown-for");
      var hasErrors = part.querySelector(".field__errors") !== null;
      part.hidden = wanted !== value && !hasErrors;
    });
  }

  function bindDecision() {
    var form = document.getElementById("task-form");
    if (!form || !form.querySelector("[data-shown-for]")) {
      return;
    }
    form.querySelectorAll("input[name='decision']").forEach(function (radio) {
      radio.addEventListener("change", function () {
        showDecisionParts(form);
      });
    });
    showDecisionParts(form);
  }

  function focusSummary() {
    var summary = document.getElementById("form-summary");
    if (summary) {
      summary.setAttribute("tabindex", "-1");
      summary.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    bindCounters();
    bindDecision();
    focusSummary();
  });
})();
