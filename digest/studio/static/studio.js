// The studio's progressive JavaScript: written for digest, no libraries, no build step.
//
// Without it the page works: every button submits the one form and the server
// answers with the whole page. With it, the same requests are made in the
// background and the page is updated in place, keeping the focus and the open
// panels; edits to the text update the preview as the editor types; stories
// can be dragged, and moved with Alt+ArrowUp / Alt+ArrowDown.
(function () {
  "use strict";

  var TEXT_TYPES = { text: 1, url: 1, search: 1, email: 1 };
  var NO_PREVIEW = { q: 1, new_section: 1, import_url: 1, import_source: 1, approver: 1, test_to: 1, test_segment: 1, width: 1, topic: 1, source: 1, any_date: 1 };
  var chain = Promise.resolve();
  var timer = null;
  var dragged = null;

  function form() { return document.getElementById("studio"); }

  function openPanels() {
    return Array.prototype.map.call(document.querySelectorAll("details[open]"), function (d) { return d.id; });
  }

  function swap(html, previewOnly, focusId) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var ids = previewOnly ? ["preview-output", "save-state", "problems"] : null;
    var opened = openPanels();
    var seeScroll = document.getElementById("see") ? document.getElementById("see").scrollTop : 0;
    if (ids) {
      ids.forEach(function (id) {
        var now = document.getElementById(id);
        var next = fresh.getElementById(id);
        if (now && next) { now.replaceWith(document.adoptNode(next)); }
      });
      var state = fresh.getElementById("studio");
      if (state && form()) { form().dataset.dirty = state.dataset.dirty; }
      return;
    }
    var main = document.getElementById("content");
    var freshMain = fresh.getElementById("content");
    if (!main || !freshMain) { document.documentElement.innerHTML = fresh.documentElement.innerHTML; return; }
    // childNodes is live and adopting a node takes it out of the list: copy the list first.
    main.replaceChildren.apply(main, Array.from(freshMain.childNodes).map(function (n) { return document.adoptNode(n); }));
    if (fresh.title) { document.title = fresh.title; }
    opened.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
    var see = document.getElementById("see");
    if (see) { see.scrollTop = seeScroll; }
    var target = (form() && form().dataset.focus && document.getElementById(form().dataset.focus)) ||
      (focusId && document.getElementById(focusId)) || document.querySelector("#problems .problem, #status .message");
    if (target) {
      if (target.tagName === "DIV" && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
      var details = target.closest && target.closest("details");
      if (details) { details.open = true; }
      target.focus({ preventScroll: false });
    }
  }

  function send(data, previewOnly) {
    chain = chain.then(function () {
      var target = form();
      if (!target) { return null; }
      var focusId = document.activeElement && document.activeElement.id;
      target.setAttribute("aria-busy", "true");
      // The buttons are named "action", which hides the form's own action property.
      return fetch(target.getAttribute("action"), { method: "POST", body: data(), credentials: "same-origin", headers: { "X-Studio": "1" } })
        .then(function (response) { return response.text(); })
        .then(function (html) { swap(html, previewOnly, focusId); })
        .catch(function () {
          var problems = document.getElementById("problems");
          if (problems) {
            problems.innerHTML = '<div class="problem"><p>The studio is not answering; is <code>digest studio</code> still running?</p></div>';
          }
        })
        .finally(function () { var f = form(); if (f) { f.removeAttribute("aria-busy"); } });
    });
    return chain;
  }

  function submitWith(action, extra) {
    // A button's request carries the whole form, so a preview still waiting for
    // the typing to pause is redundant, and if it ran afterwards its answer would
    // replace the button's (a failed save's "nothing was saved" would vanish).
    if (action !== "preview" && timer) { clearTimeout(timer); timer = null; }
    return send(function () {
      var f = form();
      Object.keys(extra || {}).forEach(function (name) { f.elements[name].value = extra[name]; });
      var data = new FormData(f);
      data.set("action", action);
      return data;
    }, action === "preview");
  }

  document.addEventListener("submit", function (event) {
    if (event.target !== form()) { return; }
    event.preventDefault();
    var button = event.submitter;
    var action = button && button.name === "action" ? button.value : "preview";
    submitWith(action);
  });

  function wantsPreview(element) {
    if (!element || !element.form || element.form !== form() || NO_PREVIEW[element.name]) { return false; }
    if (element.type === "file" || element.type === "hidden" || element.type === "submit") { return false; }
    return true;
  }

  function schedulePreview(delay) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; submitWith("preview"); }, delay);
  }

  document.addEventListener("input", function (event) {
    var element = event.target;
    if (wantsPreview(element) && (element.tagName === "TEXTAREA" || TEXT_TYPES[element.type])) {
      var state = document.getElementById("save-state");
      if (state) { state.textContent = "Unsaved changes"; state.classList.add("unsaved"); }
      schedulePreview(600);
    }
  });

  document.addEventListener("change", function (event) {
    var element = event.target;
    if (wantsPreview(element) && !(element.tagName === "TEXTAREA" || TEXT_TYPES[element.type])) {
      schedulePreview(50);
    }
  });

  // Keyboard moves: Alt+ArrowUp / Alt+ArrowDown on a focused story (or its buttons), or a section's.
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) { return; }
    var element = event.target;
    if (element.tagName === "TEXTAREA" || (element.tagName === "INPUT" && TEXT_TYPES[element.type] && !element.closest(".section-head"))) { return; }
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
      submitWith(button.value);
    }
  });

  // Drag and drop of stories, onto another story (before it), the end of a section, or the lead.
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
    submitWith("move", { move_id: moving, move_before: target.before, move_section: target.section });
  });

  document.addEventListener("dragend", function () {
    clearMarks();
    document.querySelectorAll("li.dragging").forEach(function (el) { el.classList.remove("dragging"); });
    dragged = null;
  });

  window.addEventListener("beforeunload", function (event) {
    var f = form();
    if (f && f.dataset.dirty === "1") { event.preventDefault(); event.returnValue = ""; }
  });

  // Tell tests and curious editors that the enhanced page is active.
  document.documentElement.dataset.studio = "ready";
}());
