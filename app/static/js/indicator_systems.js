// Indicator system pages: ask before a step that cannot be undone, such as
// publishing a version, deleting a draft or replacing its tree from a workbook.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const question = button && button.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
