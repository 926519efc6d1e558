// The studio's kept drafts: written for digest, no libraries, no build step.
//
// Work is never lost: while the issue page has unsaved changes, the whole form
// is kept in this browser's storage, under the address and the hash of
// the file the page opened, and offered back when the issue is opened again
// (after a reload, a crash of the browser or a restart of the studio). Saving
// (or undoing the changes) forgets it. studio.js runs first: it says when the
// page changed ("studio:updated"), restores a draft ("studio:restore") and
// reads sentences out ("studio:announce").
(function () {
  "use strict";

  var NOT_KEPT = { csrf: 1, action: 1, overwrite_hash: 1, move_id: 1, move_before: 1, move_section: 1 };
  var DRAFTS = "digest-studio-draft:";
  var DRAFT_DAYS = 30;

  var offered = null; // the stored draft the page offers back
  var lastKey = null; // where this page last kept its draft

  function form() { return document.getElementById("studio"); }

  function paragraph(text) { var p = document.createElement("p"); p.textContent = text; return p; }

  function say(text) { document.dispatchEvent(new CustomEvent("studio:announce", { detail: text })); }

  function storage() { try { return window.localStorage; } catch (e) { return null; } }

  function draftKey(f) { return DRAFTS + location.pathname + ":" + f.elements.base_hash.value; }

  function fieldsOf(f) {
    var found = [];
    new FormData(f).forEach(function (value, name) {
      if (typeof value === "string" && !NOT_KEPT[name]) { found.push([name, value]); }
    });
    return found;
  }

  // Keep the page's draft while it has unsaved changes; forget it once they are saved (or undone).
  // Only a draft this page wrote is ever removed here: one offered back stays until the editor decides.
  function keepDraft() {
    var f = form(), store = storage();
    if (!f || !store) { return; }
    var key = draftKey(f);
    try {
      if (lastKey && lastKey !== key) { store.removeItem(lastKey); } // saved: that draft is in the file now
      if (f.dataset.dirty === "1") {
        store.setItem(key, JSON.stringify({ saved: Date.now(), fields: fieldsOf(f) }));
        lastKey = key;
      } else {
        if (lastKey === key) { store.removeItem(key); }
        lastKey = null;
      }
    } catch (e) {
      // Storage full or refused: the page itself still holds the edits.
    }
  }

  function storedDrafts() {
    var store = storage(), prefix = DRAFTS + location.pathname + ":", found = [];
    if (!store) { return found; }
    var keys = [];
    for (var i = 0; i < store.length; i++) { keys.push(store.key(i)); }
    keys.forEach(function (key) {
      if (!key || key.indexOf(prefix) !== 0) { return; }
      var draft = null;
      try { draft = JSON.parse(store.getItem(key)); } catch (e) { draft = null; }
      if (!draft || !draft.fields || Date.now() - draft.saved > DRAFT_DAYS * 86400000) {
        store.removeItem(key);
        return;
      }
      draft.key = key;
      draft.hash = key.slice(prefix.length);
      found.push(draft);
    });
    return found.sort(function (a, b) { return b.saved - a.saved; });
  }

  function offerDraft() {
    var f = form();
    if (!f) { return; }
    var hash = f.elements.base_hash.value, shown = JSON.stringify(fieldsOf(f));
    var drafts = storedDrafts().filter(function (draft) {
      // One that says what the page says already is nothing to offer.
      if (draft.hash === hash && JSON.stringify(draft.fields) === shown) { storage().removeItem(draft.key); return false; }
      return true;
    });
    offered = drafts[0] || null;
    showOffer(true);
  }

  function showOffer(aloud) {
    var old = document.getElementById("draft-offer");
    if (old) { old.remove(); }
    var f = form();
    if (!offered || !f) { return; }
    var when = new Date(offered.saved).toLocaleString(document.documentElement.lang || undefined,
      { dateStyle: "long", timeStyle: "short" });
    var box = document.createElement("div");
    box.className = "draft-offer";
    box.id = "draft-offer";
    box.setAttribute("role", "group");
    box.setAttribute("aria-labelledby", "draft-offer-text");
    var text = paragraph("Unsaved changes to this issue from " + when + " were kept in this browser." +
      (offered.hash === f.elements.base_hash.value ? "" :
        " The file has changed since: after restoring them, Save shows you both and keeps both."));
    text.id = "draft-offer-text";
    box.appendChild(text);
    var buttons = document.createElement("p");
    [["draft-restore", "Restore them", "", restoreDraft], ["draft-discard", "Discard them", "small", discardDraft]]
      .forEach(function (spec) {
        var button = document.createElement("button");
        button.type = "button";
        button.id = spec[0];
        button.textContent = spec[1];
        if (spec[2]) { button.className = spec[2]; }
        button.addEventListener("click", spec[3]);
        buttons.appendChild(button);
        buttons.appendChild(document.createTextNode(" "));
      });
    box.appendChild(buttons);
    f.parentNode.insertBefore(box, f);
    if (aloud) { say(text.textContent); }
  }

  function restoreDraft() {
    var draft = offered;
    offered = null;
    showOffer(false);
    if (draft) { document.dispatchEvent(new CustomEvent("studio:restore", { detail: draft.fields })); }
  }

  function discardDraft() {
    if (offered) { storage().removeItem(offered.key); }
    offered = null;
    showOffer(false);
    say("The kept changes were discarded.");
  }

  // studio.js handles the page's own events first (they are registered first), so the page's
  // unsaved flag is already set when these run.
  document.addEventListener("studio:updated", function () {
    keepDraft();
    if (offered && !document.getElementById("draft-offer")) { showOffer(false); } // the page was replaced
  });
  window.addEventListener("beforeunload", keepDraft);
  window.addEventListener("pagehide", keepDraft);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") { keepDraft(); } });

  offerDraft();
  // Tell tests and curious editors that the enhanced page is active, drafts and all.
  if (document.documentElement.dataset.studio === "enhanced") { document.documentElement.dataset.studio = "ready"; }
}());
