// Rapport's pages work without this script; it only adds comfort: keyboard shortcuts,
// a help overlay, filters that apply on change, "tick all", local times.
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // Times are rendered in UTC; show them in the reader's zone.
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.title = t.textContent;
      t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { if (s.form) s.form.submit(); });
  });

  var selectAll = document.querySelector("[data-select-all]");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      document.querySelectorAll("table[data-list] tbody input[type=checkbox]").forEach(function (c) {
        c.checked = selectAll.checked;
      });
    });
  }

  // The composer shows whether it writes a reply or an internal note.
  var composer = document.getElementById("composer");
  var text = document.querySelector("[data-composer]");
  function setKind(kind) {
    var radio = document.querySelector('input[data-kind="' + kind + '"]');
    if (radio) radio.checked = true;
    if (composer) composer.classList.toggle("note-mode", kind === "note");
    if (text) text.placeholder = kind === "note" ? "Write an internal note (the customer does not see it)…" : "Write your reply…";
  }
  document.querySelectorAll("input[data-kind]").forEach(function (r) {
    r.addEventListener("change", function () { setKind(r.getAttribute("data-kind")); });
  });
  if (text) {
    text.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && text.form) {
        e.preventDefault();
        if (text.value.trim() !== "") text.form.requestSubmit();
      }
    });
  }

  // The help overlay.
  var help = document.getElementById("shortcuts");
  function toggleHelp() {
    if (!help || typeof help.showModal !== "function") return;
    if (help.open) help.close(); else help.showModal();
  }
  document.querySelectorAll("[data-shortcuts]").forEach(function (b) {
    b.addEventListener("click", toggleHelp);
  });

  // j/k move a selection through the list; o or Enter opens it; x ticks it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table[data-list] tbody tr[data-href]"));
  var current = -1;
  function select(i) {
    if (rows.length === 0) return;
    i = Math.max(0, Math.min(rows.length - 1, i));
    if (current >= 0 && rows[current]) rows[current].classList.remove("selected");
    current = i;
    rows[i].classList.add("selected");
    var link = rows[i].querySelector(".subject a");
    if (link) link.focus({ preventScroll: true });
    rows[i].scrollIntoView({ block: "nearest" });
  }
  function go(href) { if (href) window.location.assign(href); }

  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      if (typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (help && help.open && e.key !== "?") return;
    if (pendingG) {
      pendingG = false;
      var queue = { m: "/app?status=unsolved&assignee=me", u: "/app?status=unsolved&assignee=none", a: "/app?status=unsolved" }[e.key];
      if (queue) { e.preventDefault(); go(queue); }
      return;
    }
    switch (e.key) {
      case "?": e.preventDefault(); toggleHelp(); break;
      case "/": {
        var search = document.querySelector("[data-search]");
        if (search) { e.preventDefault(); search.focus(); search.select(); }
        break;
      }
      case "j": if (rows.length) { e.preventDefault(); select(current + 1); } break;
      case "k": if (rows.length) { e.preventDefault(); select(current - 1); } break;
      case "o": case "Enter":
        if (current >= 0 && rows[current]) { e.preventDefault(); go(rows[current].getAttribute("data-href")); }
        break;
      case "x":
        if (current >= 0 && rows[current]) {
          var box = rows[current].querySelector("input[type=checkbox]");
          if (box) { e.preventDefault(); box.checked = !box.checked; }
        }
        break;
      case "r": if (text) { e.preventDefault(); setKind("reply"); text.focus(); } break;
      case "n": if (text && composer) { e.preventDefault(); setKind("note"); text.focus(); } break;
      case "u": {
        var back = document.querySelector("[data-back-to-list]");
        if (back) { e.preventDefault(); go(back.getAttribute("href")); }
        break;
      }
      case "g": if (document.body.classList.contains("area-app")) { pendingG = true; } break;
    }
  });
})();
