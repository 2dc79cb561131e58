// Cycle page: issue the cycle batch by batch and show the progress as it is made.
// Without a step address (someone else issues it), follow the recorded progress.
(function () {
  "use strict";

  const section = document.getElementById("issuance");
  if (!section || section.dataset.finished === "true") {
    return;
  }
  const bar = document.getElementById("issue-progress");
  const percent = document.getElementById("issue-percent");
  const text = document.getElementById("issue-text");
  const refused = document.getElementById("issue-refused");
  const form = document.getElementById("issue-form");
  const POLL_MS = 3000;
  const RETRY_MS = 5000;
  const MAX_FAILURES = 3;
  let failures = 0;

  function fill_in(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function show(progress) {
    bar.value = progress.percent;
    bar.textContent = progress.percent + "%";
    percent.textContent = progress.percent + "%";
    const template = progress.finished ? text.dataset.finishedText : text.dataset.runningText;
    text.textContent = fill_in(template, progress);
    if (progress.finished) {
      section.dataset.finished = "true";
    }
  }

  function list_refused(reasons) {
    const names = Object.keys(reasons || {});
    if (names.length === 0) {
      return;
    }
    const list = refused.querySelector("ul");
    list.textContent = "";
    names.forEach(function (name) {
      const item = document.createElement("li");
      item.textContent = name + ": " + reasons[name];
      list.appendChild(item);
    });
    refused.hidden = false;
  }

  function fail(reason) {
    text.textContent = fill_in(text.dataset.failedText, { reason: reason });
  }

  async function answer(response) {
    const body = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      throw new Error(body.detail || body.title || response.statusText);
    }
    return body;
  }

  async function step() {
    const token = form.querySelector("input[name=csrf_token]").value;
    const response = await fetch(section.dataset.stepUrl, {
      method: "POST",
      headers: { "Accept": "application/json", "X-CSRFToken": token },
      credentials: "same-origin",
    });
    return answer(response);
  }

  async function poll() {
    const response = await fetch(section.dataset.progressUrl, {
      headers: { "Accept": "application/json" },
      credentials: "same-origin",
    });
    return answer(response);
  }

  async function run() {
    const stepping = Boolean(section.dataset.stepUrl);
    try {
      const progress = stepping ? await step() : await poll();
      failures = 0;
      show(progress);
      list_refused(progress.refused);
      if (!progress.finished) {
        window.setTimeout(run, stepping ? 0 : POLL_MS);
      }
    } catch (error) {
      failures += 1;
      if (failures >= MAX_FAILURES) {
        fail(error.message);
        return;
      }
      window.setTimeout(run, RETRY_MS);
    }
  }

  run();
})();
