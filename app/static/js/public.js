// The public report form: a live character count and an early check of the photos.
(function () {
  "use strict";

  var form = document.getElementById("report-form");
  if (!form) {
    return;
  }

  var description = form.querySelector("#description");
  var counter = document.getElementById("description-counter");
  var photos = form.querySelector("#photos");
  var maxPhotos = 3;
  var maxBytes = 5 * 1024 * 1024;

  function updateCount() {
    var limit = parseInt(description.getAttribute("maxlength") || "2000", 10);
    var used = description.value.length;
    counter.textContent = used + " / " + limit;
    counter.classList.toggle("public-counter--over", used > limit);
  }

  function checkPhotos() {
    var files = Array.prototype.slice.call(photos.files || []);
    var message = "";
    if (files.length > maxPhotos) {
      message = form.dataset.tooMany || "";
    } else if (files.some(function (file) { return file.size > maxBytes; })) {
      message = form.dataset.tooLarge || "";
    }
    photos.setCustomValidity(message);
    if (message) {
      photos.reportValidity();
    }
  }

  if (description && counter) {
    description.addEventListener("input", updateCount);
    updateCount();
  }
  if (photos) {
    photos.addEventListener("change", checkPhotos);
  }
})();
