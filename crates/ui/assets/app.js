// Rapport's pages work without this script; it only adds comfort: keyboard shortcuts,
// a help overlay, filters that apply on change, "tick all", local times, live updates and
// presence in the workspace, and live updates of a customer's open conversation in the portal.
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // Times are rendered in UTC; show them in the reader's zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = t.textContent;
        t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }
  localTimes(document);

  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { if (s.form) s.form.submit(); });
  });

  // Delegated, because live updates replace the list (and this box with it).
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    document.querySelectorAll("table[data-list] tbody input[type=checkbox]").forEach(function (c) {
      c.checked = box.checked;
    });
  });

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
  function listRows() {
    return Array.prototype.slice.call(document.querySelectorAll("table[data-list] tbody tr[data-href]"));
  }
  var rows = listRows();
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

  // Live updates: the server streams the changes this agent may see (server-sent events);
  // the page then fetches itself again and swaps the parts marked data-live-region, so
  // everything shown is still rendered (and permission-checked) by the server.
  var liveUrl = document.body.getAttribute("data-live");
  var thread = document.querySelector("[data-conversation]");
  var openNumber = thread ? Number(thread.getAttribute("data-conversation")) : 0;
  var statusLine = document.querySelector("[data-live-status]");
  var properties = document.querySelector('[data-live-region="properties"]');
  if (properties) {
    properties.addEventListener("change", function () { properties.setAttribute("data-dirty", ""); });
  }

  function csrfToken() {
    var input = document.querySelector('input[name="csrf"]');
    return input ? input.value : "";
  }

  function say(message) {
    if (statusLine) statusLine.textContent = message;
  }

  function swap(doc) {
    document.querySelectorAll("[data-live-region]").forEach(function (region) {
      var name = region.getAttribute("data-live-region");
      var fresh = doc.querySelector('[data-live-region="' + name + '"]');
      if (!fresh) return;
      // Never throw away what the agent is choosing right now.
      if (name === "properties" && (region.contains(document.activeElement) || region.hasAttribute("data-dirty"))) return;
      var ticked = {};
      region.querySelectorAll("input[name=n]:checked").forEach(function (c) { ticked[c.value] = true; });
      region.innerHTML = fresh.innerHTML;
      region.querySelectorAll("input[name=n]").forEach(function (c) { if (ticked[c.value]) c.checked = true; });
      localTimes(region);
    });
    var selected = current >= 0 && rows[current] ? rows[current].getAttribute("data-href") : null;
    rows = listRows();
    current = -1;
    if (selected) {
      rows.forEach(function (row, i) { if (row.getAttribute("data-href") === selected) { current = i; row.classList.add("selected"); } });
    }
  }

  var refreshTimer = null;
  var refreshing = false;
  var refreshAgain = false;
  function refresh(message) {
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        swap(new DOMParser().parseFromString(html, "text/html"));
        if (message) say(message);
      })
      .catch(function () { /* the next change or a reload brings the page up to date */ })
      .then(function () {
        refreshing = false;
        if (refreshAgain) { refreshAgain = false; schedule(message); }
      });
  }
  function schedule(message) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { refresh(message); }, 250);
  }

  // Presence: who else is viewing or replying to the open conversation.
  var presenceBox = document.querySelector("[data-presence]");
  function names(list) {
    if (list.length <= 1) return list.join("");
    return list.slice(0, -1).join(", ") + " and " + list[list.length - 1];
  }
  function showPresence(people) {
    if (!presenceBox) return;
    var typing = people.filter(function (p) { return p.state === "typing"; }).map(function (p) { return p.name; });
    var viewing = people.filter(function (p) { return p.state !== "typing"; }).map(function (p) { return p.name; });
    var parts = [];
    if (typing.length) parts.push(names(typing) + (typing.length > 1 ? " are replying" : " is replying"));
    if (viewing.length) parts.push(names(viewing) + (viewing.length > 1 ? " are viewing" : " is viewing"));
    presenceBox.textContent = parts.length ? parts.join("; ") + "." : "";
    presenceBox.hidden = parts.length === 0;
  }

  if (liveUrl && window.EventSource) {
    var source = new EventSource(liveUrl);
    source.addEventListener("change", function (e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch (err) { return; }
      if (openNumber) {
        if (data.conversation === openNumber) {
          schedule(data.kind === "message_added" ? "A new message arrived." : "This conversation was updated.");
        }
      } else if (document.querySelector('[data-live-region="list"]')) {
        schedule("The list was updated.");
      } else if (document.querySelector("[data-live-page]")) {
        schedule("Updated.");
      }
    });
    source.addEventListener("reset", function () { schedule(""); });
    source.addEventListener("presence", function (e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch (err) { return; }
      if (openNumber && data.conversation === openNumber) showPresence(data.people || []);
    });
  }

  // A CSV chosen from a file goes into the form's text box (the form posts text, so it
  // also works without a script, by pasting).
  document.querySelectorAll("input[type=file][data-csv-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-csv-into"));
      var file = input.files && input.files[0];
      if (!target || !file || !window.FileReader) return;
      var reader = new FileReader();
      reader.onload = function () { target.value = String(reader.result || ""); };
      reader.readAsText(file);
    });
  });

  // A page whose figures change with time alone (SLA deadlines come closer) re-renders
  // itself now and then, besides the live stream.
  var refreshEvery = document.querySelector("[data-refresh-seconds]");
  if (refreshEvery) {
    var seconds = Number(refreshEvery.getAttribute("data-refresh-seconds"));
    if (seconds >= 10) setInterval(function () { if (!document.hidden) refresh(""); }, seconds * 1000);
  }

  // Presence is the team's: a customer's portal page follows its conversation but announces
  // nobody.
  if (openNumber && liveUrl && document.body.classList.contains("area-app")) {
    var presenceUrl = "/app/conversations/" + openNumber + "/presence";
    var doing = "viewing";
    var lastTyping = 0;
    var idle = null;
    var announce = function (state) {
      var body = new URLSearchParams({ csrf: csrfToken(), state: state });
      fetch(presenceUrl, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data) showPresence(data.people || []); })
        .catch(function () { /* presence is a courtesy; the next beat tries again */ });
    };
    announce(doing);
    setInterval(function () { announce(doing); }, 10000);
    if (text) {
      text.addEventListener("input", function () {
        var now = Date.now();
        if (doing !== "typing" || now - lastTyping > 5000) {
          doing = "typing";
          lastTyping = now;
          announce(doing);
        }
        clearTimeout(idle);
        idle = setTimeout(function () { doing = "viewing"; announce(doing); }, 6000);
      });
    }
    window.addEventListener("pagehide", function () {
      if (navigator.sendBeacon) navigator.sendBeacon(presenceUrl, new URLSearchParams({ csrf: csrfToken(), state: "left" }));
    });
  }
})();
