// The studio's progressive JavaScript: written for digest, no libraries, no build step.
//
// Without it the page works: every button submits the one form and the server
// answers with the whole page. With it, the same requests are made in the
// background and the page is updated in place, keeping the focus and the open
// panels; edits to the text update the preview as the editor types; stories
// can be dragged, and moved with Alt+ArrowUp / Alt+ArrowDown; Ctrl+S (Cmd+S)
// saves, and Enter in a one-line field never does.
//
// A refused or unanswered request never replaces the page: it is said beside
// the control, and the edits stay (drafts.js keeps them in the browser too;
// this script tells it, with a "studio:updated" event, when the page changed).
(function () {
  "use strict";

  var TEXT_TYPES = { text: 1, url: 1, search: 1, email: 1 };
  // Fields that change what the page shows but not the file.
  var PAGE_ONLY = { q: 1, new_section: 1, import_url: 1, import_source: 1, approver: 1, test_to: 1, test_segment: 1,
    width: 1, topic: 1, source: 1, any_date: 1, segment: 1, view: 1 };
  // Of those, the ones the preview shows.
  var PREVIEWED = { segment: 1, view: 1 };
  // Enter in these one-line fields presses their button; in any other, it does nothing.
  var ENTER = { "new-section": "section-add", approver: "approve", q: "filter", "test-to": "test",
    "import-url": "import", "import-source": "import" };
  var TYPING_PAUSE = 60; // ms after the last keystroke before the preview is asked for
  var LATER = "Your changes are still on this page, and kept in this browser.";

  var chain = Promise.resolve(); // the buttons' requests, one after another
  var acting = 0; // buttons' requests not answered yet
  var actions = 0; // buttons' requests sent: a preview asked for before the latest one is stale
  var edits = 0; // edits so far: an answer about an earlier state of the page is stale
  var typedDuring = {}; // text fields edited while a button's request was out, by name
  var timer = null; // the preview waiting for the typing to pause
  var previewing = null; // the preview's request still out (its AbortController)
  var previewAgain = false; // a preview is due once the button's request is answered
  var dragged = null;

  function form() { return document.getElementById("studio"); }

  function isText(element) {
    return element && (element.tagName === "TEXTAREA" || (element.tagName === "INPUT" && TEXT_TYPES[element.type]));
  }

  // --- telling the editor -----------------------------------------------------------------

  var live = {};
  function liveRegion(id, role) {
    if (!live[id]) {
      live[id] = document.createElement("div");
      live[id].id = id;
      live[id].className = "visually-hidden";
      live[id].setAttribute("role", role);
      document.body.appendChild(live[id]);
    }
    return live[id];
  }

  function announce(message, problem) {
    // Emptied first, so that the same sentence twice is read out twice.
    var polite = liveRegion("announce", "status"), urgent = liveRegion("announce-problem", "alert");
    polite.textContent = "";
    urgent.textContent = "";
    setTimeout(function () { polite.textContent = message || ""; urgent.textContent = problem || ""; }, 60);
  }

  function clearOutcomes() {
    var box = document.getElementById("outcome");
    if (box) { box.remove(); }
    document.querySelectorAll("#problems .problem, #problems p").forEach(function (p) { p.remove(); });
    var status = document.getElementById("status");
    if (status) { status.textContent = ""; }
  }

  // A problem of the page's own (no answer, a refusal), beside the control that caused it.
  function tell(control, paragraphs) {
    clearOutcomes();
    var box = document.createElement("div");
    box.className = "outcome problem";
    box.id = "outcome";
    paragraphs.forEach(function (p) { box.appendChild(p); });
    var note = document.createElement("p");
    note.textContent = LATER;
    box.appendChild(note);
    var place = control && control.isConnected ? control.closest(".toolbar, p, .story-actions, .section-head, div") : null;
    if (place && place.classList.contains("toolbar")) {
      place.appendChild(box);
    } else if (place && place.parentNode) {
      place.parentNode.insertBefore(box, place.nextSibling);
    } else {
      var problems = document.getElementById("problems");
      if (problems) { problems.appendChild(box); }
    }
    announce("", box.textContent);
  }

  // The page changed (an edit, an answer): drafts.js keeps it.
  function updated() { document.dispatchEvent(new CustomEvent("studio:updated")); }

  function paragraph(text) { var p = document.createElement("p"); p.textContent = text; return p; }

  // --- talking to the studio -----------------------------------------------------------------

  function post(data, part, signal) {
    var headers = { "X-Studio": "1" };
    if (part !== "page") { headers["X-Studio-Part"] = part; }
    return fetch(form().getAttribute("action"),
      { method: "POST", body: data, credentials: "same-origin", headers: headers, signal: signal })
      .then(function (response) { return response.text(); })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  function answered(doc, part) {
    return !!doc.getElementById(part === "page" ? "studio" : part === "preview" ? "preview-output" : "checks-output");
  }

  // After a restart without the project's secret key, or a day later, the session is gone: a page the
  // studio still opens (in another tab, from the printed address) gives this one a fresh CSRF token.
  function refreshToken() {
    return fetch(location.pathname, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        var doc = html && new DOMParser().parseFromString(html, "text/html");
        var token = doc && doc.querySelector("#studio input[name=csrf]");
        if (!token) { return false; }
        document.querySelectorAll("#studio input[name=csrf]").forEach(function (input) { input.value = token.value; });
        return true;
      })
      .catch(function () { return false; });
  }

  // The answer to a request, asked again once with a fresh token if the studio refused it.
  function request(build, part, signal) {
    return post(build(), part, signal).then(function (doc) {
      if (answered(doc, part)) { return doc; }
      return refreshToken().then(function (fresh) { return fresh ? post(build(), part, signal) : doc; });
    });
  }

  function refusal(doc) {
    var found = [];
    var title = doc.querySelector("h1");
    if (title) { found.push(paragraph(title.textContent + ".")); }
    var said = doc.querySelector("#content > p");
    if (said) { found.push(document.adoptNode(said)); }
    if (!found.length) { found.push(paragraph("The studio did not answer as it should.")); }
    found.push(paragraph("If the studio was restarted, open the address digest studio printed (in another tab), " +
      "then do it again here."));
    return found;
  }

  function formData(action) {
    var data = new FormData(form());
    data.set("action", action);
    return data;
  }

  // A button: the whole page comes back. `build` makes the request's data (the form, by default).
  function act(action, extra, build, control) {
    if (timer) { clearTimeout(timer); timer = null; }
    actions++;
    acting++;
    var sentEdits = edits;
    control = control || document.activeElement;
    chain = chain.then(function () {
      var f = form();
      if (!f) { return null; }
      var focus = where();
      typedDuring = {};
      Object.keys(extra || {}).forEach(function (name) { f.elements[name].value = extra[name]; });
      f.setAttribute("aria-busy", "true");
      return request(build || function () { return formData(action); }, "page")
        .then(function (doc) {
          if (!answered(doc, "page")) { tell(control, refusal(doc)); return; }
          swap(doc, focus, edits !== sentEdits);
        })
        .catch(function () {
          tell(control, [paragraph("The studio is not answering: is digest studio still running?")]);
        })
        .finally(function () {
          acting--;
          var now = form();
          if (now) { now.removeAttribute("aria-busy"); }
          updated();
          if (previewAgain) { previewAgain = false; schedulePreview(0); }
        });
    });
    return chain;
  }

  // The focused field and where its caret was, to put back after the page changes.
  function where() {
    var element = document.activeElement;
    if (!element || !element.id) { return null; }
    var spot = { id: element.id };
    try { spot.start = element.selectionStart; spot.end = element.selectionEnd; } catch (e) { /* not a text field */ }
    return spot;
  }

  function openPanels() {
    return Array.prototype.map.call(document.querySelectorAll("details[open]"), function (d) { return d.id; });
  }

  function adopt(node) { return document.adoptNode(node); }

  function swap(doc, focus, typedMeanwhile) {
    var main = document.getElementById("content"), fresh = doc.getElementById("content");
    var opened = openPanels();
    var see = document.getElementById("see"), seeScroll = see ? see.scrollTop : 0;
    // A field at fault: the email stays as last rendered rather than vanishing.
    var lastEmail = doc.querySelector("#preview-output[data-kept]") ? document.getElementById("preview-output") : null;
    var typed = typedMeanwhile ? typedDuring : {};
    main.replaceChildren.apply(main, Array.from(fresh.childNodes).map(adopt));
    if (doc.title) { document.title = doc.title; }
    if (lastEmail) { document.getElementById("preview-output").replaceWith(lastEmail); }
    markKept(!!lastEmail);
    opened.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
    see = document.getElementById("see");
    if (see) { see.scrollTop = seeScroll; }
    // What was typed while the request was out is not in the answer: put it back.
    Object.keys(typed).forEach(function (name) {
      var field = form().elements[name];
      if (field && isText(field)) { field.value = typed[name]; edits++; }
    });
    if (Object.keys(typed).length) { markUnsaved(); schedulePreview(0); }
    var status = document.getElementById("status"), problems = document.getElementById("problems");
    announce(status ? status.textContent.trim() : "", problems ? problems.textContent.trim() : "");
    var wanted = form() && form().dataset.focus;
    var target = (wanted && document.getElementById(wanted)) || (focus && document.getElementById(focus.id)) ||
      document.getElementById("outcome");
    if (target) {
      if (target.tagName === "DIV" && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
      var details = target.closest && target.closest("details");
      if (details) { details.open = true; }
      target.focus({ preventScroll: false });
      if (!wanted && focus && focus.start != null && target.setSelectionRange) {
        try { target.setSelectionRange(focus.start, focus.end); } catch (e) { /* not a text field */ }
      }
    }
  }

  // --- the preview, as the editor types ------------------------------------------------------

  function markUnsaved() {
    var f = form();
    if (f) { f.dataset.dirty = "1"; }
    var state = document.getElementById("save-state");
    if (state) { state.textContent = "Unsaved changes"; state.classList.add("unsaved"); }
  }

  function markKept(kept) {
    var note = document.getElementById("preview-kept");
    if (!kept) { if (note) { note.remove(); } return; }
    var output = document.getElementById("preview-output");
    if (note || !output) { return; }
    note = paragraph("This is the email as it last could be shown: fix the field marked with a message.");
    note.id = "preview-kept";
    note.className = "warn";
    output.parentNode.insertBefore(note, output);
  }

  function schedulePreview(delay) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; preview(); }, delay);
  }

  // One preview at a time: a newer one cancels the one still out, whose answer would be about older text.
  function preview() {
    if (!form()) { return; }
    if (acting) { previewAgain = true; return; }
    if (previewing) { previewing.abort(); }
    var mine = previewing = new AbortController();
    var sentEdits = edits, sentActions = actions;
    request(function () { return formData("preview"); }, "preview", mine.signal)
      .then(function (doc) {
        if (mine !== previewing || actions !== sentActions) { return; } // replaced meanwhile
        if (!answered(doc, "preview")) { tell(document.getElementById("update-preview"), refusal(doc)); return; }
        showPreview(doc, edits === sentEdits);
        if (edits === sentEdits && !timer) { checks(); }
      })
      .catch(function () {
        if (mine.signal.aborted) { return; }
        tell(document.getElementById("update-preview"), [paragraph("The studio is not answering: is digest studio still running?")]);
      })
      .finally(function () { if (previewing === mine) { previewing = null; } });
  }

  function showPreview(doc, current) {
    var next = doc.getElementById("preview-output"), now = document.getElementById("preview-output");
    if (next && now) {
      if (next.hasAttribute("data-kept")) {
        markKept(true);
      } else {
        markKept(false);
        if (!reuseFrame(now, next)) { now.replaceWith(adopt(next)); }
      }
    }
    if (!current) { return; } // the editor typed since: the next answer says whether the page is saved
    var state = doc.getElementById("save-state"), oldState = document.getElementById("save-state");
    if (state && oldState) {
      oldState.replaceWith(adopt(state));
      form().dataset.dirty = state.classList.contains("unsaved") ? "1" : "";
    }
    showFieldErrors(doc.getElementById("field-errors"));
    updated();
  }

  // The email's frame stays in the page and is given the new email: a new frame costs the browser a new
  // document context, and the same email twice costs nothing. The rest of the output is the answer's.
  function reuseFrame(now, next) {
    var frame = now.querySelector("#preview-frame"), fresh = next.querySelector("#preview-frame");
    if (!frame || !fresh || frame.parentNode !== now || fresh.parentNode !== next) { return false; }
    ["class", "width", "title"].forEach(function (name) { frame.setAttribute(name, fresh.getAttribute(name)); });
    if (frame.getAttribute("srcdoc") !== fresh.getAttribute("srcdoc")) { frame.setAttribute("srcdoc", fresh.getAttribute("srcdoc")); }
    var after = false;
    Array.from(now.childNodes).forEach(function (node) { if (node !== frame) { node.remove(); } });
    Array.from(next.childNodes).forEach(function (node) {
      if (node === fresh) { after = true; return; }
      if (after) { now.appendChild(adopt(node)); } else { now.insertBefore(adopt(node), frame); }
    });
    return true;
  }

  // Each message beside its field, and the field marked; fields no longer at fault unmarked.
  function showFieldErrors(list) {
    if (!list) { return; }
    document.querySelectorAll("#studio .field-error").forEach(function (p) { p.remove(); });
    document.querySelectorAll("#studio [aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== "error-" + field.id;
      });
      if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
    });
    Array.from(list.querySelectorAll(".field-error")).forEach(function (message) {
      var field = document.getElementById(message.dataset.for);
      if (!field) { return; }
      field.setAttribute("aria-invalid", "true");
      var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      ids.push(message.id);
      field.setAttribute("aria-describedby", ids.join(" "));
      field.insertAdjacentElement("afterend", adopt(message));
    });
  }

  // The checks cover every segment's copy, so they come after the email, once the typing has paused.
  function checks() {
    var out = document.getElementById("checks-output");
    if (!out) { return; }
    var sentEdits = edits, sentActions = actions;
    out.setAttribute("aria-busy", "true");
    post(formData("preview"), "checks")
      .then(function (doc) {
        var next = doc.getElementById("checks-output"), now = document.getElementById("checks-output");
        if (!next || !now || edits !== sentEdits || actions !== sentActions) { return; }
        var open = now.querySelector("details[open]");
        now.replaceWith(adopt(next));
        if (open && open.id && document.getElementById(open.id)) { document.getElementById(open.id).open = true; }
      })
      .catch(function () { /* the next edit asks again */ })
      .finally(function () { var o = document.getElementById("checks-output"); if (o) { o.removeAttribute("aria-busy"); } });
  }

  function affectsFile(element) {
    return element && element.form && element.form === form() && !PAGE_ONLY[element.name] &&
      element.type !== "file" && element.type !== "hidden" && element.type !== "submit";
  }

  function previewed(element) { return affectsFile(element) || (element && element.form === form() && PREVIEWED[element.name]); }

  document.addEventListener("input", function (event) {
    var element = event.target;
    if (!affectsFile(element) || !isText(element)) { return; }
    edits++;
    if (acting) { typedDuring[element.name] = element.value; }
    markUnsaved();
    clearOutcomes();
    updated();
    schedulePreview(TYPING_PAUSE);
  });

  document.addEventListener("change", function (event) {
    var element = event.target;
    if (!previewed(element) || isText(element)) { return; }
    if (affectsFile(element)) {
      edits++;
      markUnsaved();
      clearOutcomes();
      updated();
    }
    schedulePreview(0);
  });

  // --- buttons and keys ----------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    if (event.target !== form()) { return; }
    event.preventDefault();
    var button = event.submitter;
    var action = button && button.name === "action" ? button.value : "preview";
    if (action === "preview" && button && button.id === "default-action") { return; }
    act(action, null, null, button);
  });

  document.addEventListener("keydown", function (event) {
    var element = event.target;
    if (event.isComposing) { return; }
    // Ctrl+S (Cmd+S on a Mac) saves from anywhere on the page.
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "s" || event.key === "S")) {
      if (!form()) { return; }
      event.preventDefault();
      act("save", null, null, document.getElementById("save"));
      return;
    }
    // Enter in a one-line field presses that field's own button, if it has one, and never Save.
    if (event.key === "Enter" && element.tagName === "INPUT" && element.form === form() &&
        !event.ctrlKey && !event.metaKey && !event.altKey &&
        ["submit", "button", "reset", "image", "file"].indexOf(element.type) < 0) {
      event.preventDefault();
      var action = ENTER[element.id];
      if (action) { act(action, null, null, document.querySelector("#studio button[value='" + action + "']")); }
      return;
    }
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) { return; }
    if (element.tagName === "TEXTAREA" || (isText(element) && !element.closest(".section-head"))) { return; }
    var story = element.closest && element.closest("li.story:not(.lead)");
    var direction = event.key === "ArrowUp" ? "up" : "down";
    var button = null;
    if (story) {
      button = document.getElementById(direction + "-" + story.dataset.id);
    } else {
      var section = element.closest && element.closest("li.section");
      if (section) { button = document.getElementById("section-" + direction + "-" + section.dataset.key); }
    }
    if (button) {
      event.preventDefault();
      act(button.value, null, null, button);
    }
  });

  // A link within the page (a skip link, a check about a field) takes the focus there, opening the panel
  // the field is in; a fragment alone would only scroll to it.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='#']");
    var target = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    var details = target.closest("details");
    if (details && !details.open) { details.open = true; }
    event.preventDefault();
    if (target.tabIndex < 0 && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    target.focus();
  });

  // --- drag and drop of stories, onto another story (before it), the end of a section, or the lead --

  function clearMarks() {
    document.querySelectorAll(".drop-before, .drop-end").forEach(function (el) { el.classList.remove("drop-before", "drop-end"); });
  }

  function dropTarget(event) {
    var story = event.target.closest && event.target.closest("li.story");
    if (story && story.dataset.id !== dragged) {
      var box = story.getBoundingClientRect();
      if (story.classList.contains("lead") || event.clientY < box.top + box.height / 2) {
        return { mark: story, cls: "drop-before", before: story.dataset.id, section: "" };
      }
      var next = story.nextElementSibling;
      while (next && next.dataset.id === dragged) { next = next.nextElementSibling; }
      if (next && next.classList.contains("story")) {
        return { mark: next, cls: "drop-before", before: next.dataset.id, section: "" };
      }
      var list = story.closest("ol.stories");
      return { mark: list, cls: "drop-end", before: "", section: list.dataset.section };
    }
    var section = event.target.closest && event.target.closest("li.section");
    if (section) {
      var stories = section.querySelector("ol.stories");
      return { mark: stories, cls: "drop-end", before: "", section: section.dataset.key };
    }
    return null;
  }

  document.addEventListener("dragstart", function (event) {
    var story = event.target.closest && event.target.closest("li.story[draggable]");
    if (!story) { return; }
    dragged = story.dataset.id;
    story.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged);
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) { return; }
    var target = dropTarget(event);
    clearMarks();
    if (target) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      target.mark.classList.add(target.cls);
    }
  });

  document.addEventListener("drop", function (event) {
    if (!dragged) { return; }
    var target = dropTarget(event);
    var moving = dragged;
    clearMarks();
    dragged = null;
    if (!target) { return; }
    event.preventDefault();
    act("move", { move_id: moving, move_before: target.before, move_section: target.section }, null,
      document.getElementById("story-" + moving));
  });

  document.addEventListener("dragend", function () {
    clearMarks();
    document.querySelectorAll("li.dragging").forEach(function (el) { el.classList.remove("dragging"); });
    dragged = null;
  });

  // --- leaving the page ------------------------------------------------------------------------

  window.addEventListener("beforeunload", function (event) {
    var f = form();
    if (f && f.dataset.dirty === "1") {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // drafts.js asks for the page as a kept draft had it, and for a sentence to be read out.
  document.addEventListener("studio:restore", function (event) {
    var fields = event.detail;
    act("preview", null, function () {
      var data = new FormData();
      fields.forEach(function (pair) { data.append(pair[0], pair[1]); });
      data.set("csrf", form().elements.csrf.value);
      return data;
    }, document.getElementById("save"));
  });
  document.addEventListener("studio:announce", function (event) { announce(event.detail, ""); });

  if (form()) {
    // The page checks every field itself and says what is wrong beside it, even inside a closed panel.
    form().noValidate = true;
  }

  // Tell drafts.js, then tests and curious editors, that the enhanced page is active.
  document.documentElement.dataset.studio = "enhanced";
}());
