// Procedure editor: the bpmn-js modeler, a panel for this platform's properties,
// drafts kept on the server as the administrator works, checks marked on the
// canvas, and deployment of the checked draft.
(function () {
  "use strict";

  const root = document.getElementById("editor");
  if (!root || typeof window.BpmnJS !== "function") {
    return;
  }
  const SPIFF_URI = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  const SAVE_EVERY_MS = 4000;
  const PROBLEM_CLASS = "has-problem";
  // Only what the platform reads: form key, instructions, scripts before and after.
  const SPIFF_DESCRIPTOR = {
    name: "SpiffWorkflow",
    uri: SPIFF_URI,
    prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    types: [
      {
        name: "Properties",
        superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }],
      },
      {
        name: "Property",
        superClass: ["Element"],
        properties: [
          { name: "name", type: "String", isAttr: true },
          { name: "value", type: "String", isAttr: true },
        ],
      },
      {
        name: "InstructionsForEndUser",
        superClass: ["Element"],
        properties: [{ name: "text", type: "String", isBody: true }],
      },
      {
        name: "PreScript",
        superClass: ["Element"],
        properties: [{ name: "text", type: "String", isBody: true }],
      },
      {
        name: "PostScript",
        superClass: ["Element"],
        properties: [{ name: "text", type: "String", isBody: true }],
      },
    ],
  };

  const status = document.getElementById("editor-status");
  const form = document.getElementById("panel-form");
  const emptyNote = document.getElementById("panel-empty");
  const problemList = document.getElementById("problem-list");
  const checkResult = document.getElementById("check-result");
  const token = document.querySelector("#csrf-holder input[name=csrf_token]").value;

  const modeler = new window.BpmnJS({
    container: document.getElementById("editor-canvas"),
    moddleExtensions: { spiffworkflow: SPIFF_DESCRIPTOR },
  });
  const modeling = modeler.get("modeling");
  const moddle = modeler.get("moddle");
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  const overlays = modeler.get("overlays");
  const selection = modeler.get("selection");

  let dirty = false;
  let saving = null;
  // Set while the draft is being deployed or thrown away: no more saves then.
  let closed = false;
  let selected = null;
  let marked = [];

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function say(text) {
    status.textContent = text;
  }

  async function request(url, options) {
    const headers = Object.assign(
      { "X-CSRFToken": token, Accept: "application/json" },
      options.headers || {}
    );
    const response = await fetch(url, Object.assign({}, options, {
      headers: headers,
      credentials: "same-origin",
    }));
    const body = await response.json().catch(function () { return {}; });
    return { ok: response.ok, status: response.status, body: body };
  }

  async function currentXml() {
    const result = await modeler.saveXML({ format: true });
    return result.xml;
  }

  // Drafts: saved a few seconds after a change, and before the page is left.

  async function saveDraft() {
    if (closed || !dirty) {
      return saving;
    }
    if (saving) {
      await saving;
      return saveDraft();
    }
    dirty = false;
    saving = (async function () {
      try {
        const answer = await request(root.dataset.draftUrl, {
          method: "PUT",
          headers: { "Content-Type": "application/xml" },
          body: await currentXml(),
        });
        if (!answer.ok) {
          throw new Error(answer.body.detail || "HTTP " + answer.status);
        }
        say(fill(status.dataset.savedText, { when: answer.body.shown }));
      } catch (error) {
        dirty = true;
        say(fill(status.dataset.saveFailedText, { reason: error.message }));
      } finally {
        saving = null;
      }
    })();
    return saving;
  }

  modeler.on("commandStack.changed", function () {
    dirty = true;
    say(status.dataset.unsavedText);
  });
  window.setInterval(saveDraft, SAVE_EVERY_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      saveDraft();
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (!closed && (dirty || saving)) {
      saveDraft();
      event.preventDefault();
      event.returnValue = root.dataset.leaveWarning;
    }
  });

  // The panel: name, lane, form key, instructions, timer, condition, script.

  function extension(bo, type) {
    const values = (bo.extensionElements && bo.extensionElements.values) || [];
    return values.find(function (v) { return v.$type === type; });
  }

  function formKey(bo) {
    const holder = extension(bo, "spiffworkflow:Properties");
    const property = holder && (holder.properties || []).find(function (p) {
      return p.name === "form";
    });
    return property ? property.value || "" : "";
  }

  function timerOf(bo) {
    const definition = (bo.eventDefinitions || []).find(function (d) {
      return d.$type === "bpmn:TimerEventDefinition";
    });
    if (!definition) {
      return null;
    }
    const kind = ["timeDate", "timeDuration", "timeCycle"].find(function (k) {
      return definition[k];
    }) || "timeDuration";
    return { definition: definition, kind: kind };
  }

  function laneOf(element) {
    const lane = registry.filter(function (e) {
      return e.type === "bpmn:Lane" &&
        (e.businessObject.flowNodeRef || []).indexOf(element.businessObject) >= 0;
    })[0];
    return lane ? lane.businessObject.name || lane.id : "";
  }

  function show(name, visible) {
    form.querySelector('[data-for="' + name + '"]').hidden = !visible;
  }

  function showPanel(element) {
    selected = element;
    if (!element || element.type === "bpmn:Process" || element.type === "label") {
      form.hidden = true;
      emptyNote.hidden = false;
      return;
    }
    const bo = element.businessObject;
    const type = element.type;
    const timer = timerOf(bo);
    const fromGateway = type === "bpmn:SequenceFlow" &&
      /Gateway$/.test(bo.sourceRef && bo.sourceRef.$type || "");
    form.hidden = false;
    emptyNote.hidden = true;
    document.getElementById("panel-element").textContent =
      type.replace("bpmn:", "") + " · " + element.id;

    form.elements.name.value = bo.name || "";
    show("lane", type === "bpmn:Lane");
    form.elements.lane.value = type === "bpmn:Lane" ? bo.name || "" : "";
    show("lane-of", type === "bpmn:UserTask");
    document.getElementById("prop-lane-of").textContent =
      type === "bpmn:UserTask" ? laneOf(element) || "—" : "";
    show("form", type === "bpmn:UserTask");
    form.elements.form.value = type === "bpmn:UserTask" ? formKey(bo) : "";
    show("instructions", type === "bpmn:UserTask");
    const instructions = extension(bo, "spiffworkflow:InstructionsForEndUser");
    form.elements.instructions.value = instructions ? instructions.text || "" : "";
    show("timer", Boolean(timer));
    form.elements.timer.value = timer && timer.definition[timer.kind] ?
      timer.definition[timer.kind].body || "" : "";
    show("condition", fromGateway);
    form.elements.condition.value = fromGateway && bo.conditionExpression ?
      bo.conditionExpression.body || "" : "";
    show("script", type === "bpmn:ScriptTask");
    form.elements.script.value = type === "bpmn:ScriptTask" ? bo.script || "" : "";
    form.querySelectorAll(".field__errors").forEach(function (note) {
      note.textContent = "";
    });
  }

  function ensureExtensions(element) {
    const bo = element.businessObject;
    if (!bo.extensionElements) {
      modeling.updateProperties(element, {
        extensionElements: moddle.create("bpmn:ExtensionElements", { values: [] }),
      });
    }
    return bo.extensionElements;
  }

  function setExtensionList(element, values) {
    modeling.updateModdleProperties(element, ensureExtensions(element), { values: values });
  }

  function setFormKey(element, value) {
    const holder = extension(element.businessObject, "spiffworkflow:Properties");
    if (holder) {
      const others = (holder.properties || []).filter(function (p) { return p.name !== "form"; });
      const kept = value ? others.concat([moddle.create("spiffworkflow:Property", { name: "form", value: value })]) : others;
      modeling.updateModdleProperties(element, holder, { properties: kept });
      return;
    }
    if (!value) {
      return;
    }
    const created = moddle.create("spiffworkflow:Properties", {
      properties: [moddle.create("spiffworkflow:Property", { name: "form", value: value })],
    });
    setExtensionList(element, ensureExtensions(element).values.concat([created]));
  }

  function setInstructions(element, text) {
    const type = "spiffworkflow:InstructionsForEndUser";
    const found = extension(element.businessObject, type);
    if (found) {
      modeling.updateModdleProperties(element, found, { text: text });
      return;
    }
    if (text) {
      const created = moddle.create(type, { text: text });
      setExtensionList(element, ensureExtensions(element).values.concat([created]));
    }
  }

  function setExpression(element, owner, property, text) {
    const expression = moddle.create("bpmn:FormalExpression", { body: text });
    modeling.updateModdleProperties(element, owner, { [property]: text ? expression : undefined });
  }

  const APPLY = {
    name: function (element, value) { modeling.updateLabel(element, value); },
    lane: function (element, value) { modeling.updateProperties(element, { name: value }); },
    form: setFormKey,
    instructions: setInstructions,
    timer: function (element, value) {
      const timer = timerOf(element.businessObject);
      setExpression(element, timer.definition, timer.kind, value);
    },
    condition: function (element, value) {
      setExpression(element, element.businessObject, "conditionExpression", value);
    },
    script: function (element, value) { modeling.updateProperties(element, { script: value }); },
  };

  async function checkField(field) {
    const note = document.getElementById(field.id + "-problem");
    if (!note || !field.dataset.check) {
      return;
    }
    note.textContent = "";
    if (!field.value.trim()) {
      return;
    }
    const answer = await request(root.dataset.scriptCheckUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: field.value, mode: field.dataset.check }),
    });
    note.textContent = (answer.body.problems || []).join(" ");
    field.setAttribute("aria-invalid", answer.body.ok ? "false" : "true");
  }

  form.addEventListener("change", function (event) {
    const apply = APPLY[event.target.name];
    if (selected && apply) {
      apply(selected, event.target.value);
    }
    checkField(event.target);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  modeler.on("selection.changed", function (event) {
    showPanel(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });

  // Checks: the server's whole pipeline, each problem marked on its element.

  function clearMarks() {
    marked.forEach(function (id) {
      if (registry.get(id)) {
        canvas.removeMarker(id, PROBLEM_CLASS);
      }
    });
    overlays.remove({ type: "problem" });
    marked = [];
  }

  function showProblems(ok, problems) {
    clearMarks();
    problemList.textContent = "";
    checkResult.textContent = ok ? checkResult.dataset.okText :
      fill(checkResult.dataset.problemsText, { count: problems.length });
    root.dataset.checked = ok ? "ok" : "problems";
    problems.forEach(function (problem) {
      const item = document.createElement("li");
      item.dataset.elementId = problem.element_id || "";
      item.textContent = problem.text;
      problemList.appendChild(item);
      const element = problem.element_id && registry.get(problem.element_id);
      if (!element) {
        return;
      }
      canvas.addMarker(element.id, PROBLEM_CLASS);
      marked.push(element.id);
      const note = document.createElement("div");
      note.className = "editor__problem-note";
      note.textContent = "!";
      note.title = problem.message;
      note.setAttribute("aria-label", problem.message);
      overlays.add(element.id, "problem", { position: { top: -10, right: 10 }, html: note });
      item.tabIndex = 0;
      item.addEventListener("click", function () { selection.select(element); });
    });
  }

  async function check() {
    const answer = await request(root.dataset.checkUrl, {
      method: "POST",
      headers: { "Content-Type": "application/xml" },
      body: await currentXml(),
    });
    showProblems(Boolean(answer.body.ok), answer.body.problems || []);
    return answer.body.ok;
  }

  // Test run: the server runs the diagram in memory; the path is marked.

  const TRIAL_CLASS = "trial-completed";
  let trialMarked = [];

  function markTrial(ids) {
    trialMarked.forEach(function (id) {
      if (registry.get(id)) {
        canvas.removeMarker(id, TRIAL_CLASS);
      }
    });
    trialMarked = ids.filter(function (id) { return registry.get(id); });
    trialMarked.forEach(function (id) { canvas.addMarker(id, TRIAL_CLASS); });
  }

  async function trial() {
    const section = document.getElementById("trial");
    const path = document.getElementById("trial-path").value;
    const steps = document.getElementById("trial-steps");
    const result = document.getElementById("trial-result");
    const answer = await request(section.dataset.url + "?path=" + encodeURIComponent(path), {
      method: "POST",
      headers: { "Content-Type": "application/xml" },
      body: await currentXml(),
    });
    steps.textContent = "";
    if (!answer.ok) {
      markTrial([]);
      showProblems(false, answer.body.problems || []);
      result.textContent = fill(section.dataset.failedText, { reason: answer.body.detail || "" });
      section.dataset.outcome = "refused";
      return;
    }
    const run = answer.body;
    run.steps.forEach(function (step) {
      const item = document.createElement("li");
      const decision = step.answer.decision || step.answer.verification || step.answer.approval || "";
      item.textContent = step.name + " (" + step.lane + ")" + (decision ? " → " + decision : "");
      item.dataset.elementId = step.bpmn_id;
      steps.appendChild(item);
    });
    markTrial(run.completed_ids);
    if (run.error) {
      result.textContent = fill(section.dataset.failedText, { reason: run.error });
    } else if (run.finished) {
      result.textContent = fill(section.dataset.finishedText, { outcome: run.outcome || "—" });
    } else {
      result.textContent = fill(section.dataset.stoppedText, { ids: run.waiting_ids.join(", ") });
    }
    section.dataset.outcome = run.error ? "error" : run.finished ? "finished" : "stopped";
  }

  async function deploy() {
    dirty = true;
    await saveDraft();
    if (dirty) {
      return; // the save failed; the status line says why
    }
    closed = true;
    const answer = await request(root.dataset.deployUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: document.getElementById("deploy-comment").value }),
    });
    if (answer.ok) {
      window.location.assign(answer.body.url);
      return;
    }
    closed = false;
    showProblems(false, answer.body.problems || [{ text: answer.body.detail || "" }]);
  }

  async function discard() {
    const button = document.getElementById("discard-button");
    if (!window.confirm(button.dataset.confirm)) {
      return;
    }
    closed = true;
    if (saving) {
      await saving;
    }
    await request(root.dataset.draftUrl, { method: "DELETE" });
    dirty = false;
    window.location.reload();
  }

  document.getElementById("check-button").addEventListener("click", check);
  document.getElementById("trial-button").addEventListener("click", trial);
  document.getElementById("deploy-button").addEventListener("click", deploy);
  document.getElementById("discard-button").addEventListener("click", discard);
  document.getElementById("download-button").addEventListener("click", async function (event) {
    const link = event.currentTarget;
    if (link.dataset.ready === "true") {
      link.dataset.ready = "false";
      return;
    }
    event.preventDefault();
    const blob = new Blob([await currentXml()], { type: "application/xml" });
    link.href = URL.createObjectURL(blob);
    link.dataset.ready = "true";
    link.click();
  });

  async function open() {
    const response = await fetch(root.dataset.draftUrl, { credentials: "same-origin" });
    try {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      await modeler.importXML(await response.text());
      canvas.zoom("fit-viewport");
      root.dataset.ready = "true";
    } catch (error) {
      say(root.dataset.errorMessage + " " + error.message);
    }
  }

  window.wenmingEditor = { modeler: modeler, saveDraft: saveDraft, check: check };
  open();
})();
