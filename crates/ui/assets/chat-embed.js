// Rapport's chat on any site: one line in the site's page,
//   <script src="https://help.example.com/assets/chat-embed.js" defer></script>
// adds a floating "Chat with us" button that opens the chat widget (/chat of the same server)
// in a frame, and closes it again. Optional attributes on the script tag:
//   data-label="Questions?"   the button's text
//   data-position="left"      bottom-left instead of bottom-right
// The widget itself runs in its own frame, under its own origin and policy; this script only
// places the button and the frame, with styles set through the DOM (no inline <style>).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__rapportChat) return;
  window.__rapportChat = true;
  var origin = new URL(script.src).origin;
  var label = script.getAttribute("data-label") || "Chat with us";
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";

  function style(el, rules) {
    Object.keys(rules).forEach(function (k) { el.style[k] = rules[k]; });
  }

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "rapport-chat-frame");
  button.setAttribute("data-rapport-chat", "button");
  style(button, {
    position: "fixed", bottom: "20px", zIndex: "2147483000", padding: "12px 18px",
    border: "0", borderRadius: "999px", background: "#1f5fbf", color: "#fff",
    font: "600 15px/1.2 system-ui, sans-serif", cursor: "pointer",
    boxShadow: "0 4px 14px rgba(0,0,0,.25)",
  });
  button.style[side] = "20px";

  var frame = null;
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "rapport-chat-frame";
      frame.title = "Chat with us";
      frame.src = origin + "/chat";
      frame.setAttribute("data-rapport-chat", "frame");
      style(frame, {
        position: "fixed", bottom: "76px", zIndex: "2147483000", width: "min(380px, calc(100vw - 40px))",
        height: "min(560px, calc(100vh - 100px))", border: "1px solid #c8ced8", borderRadius: "12px",
        background: "#fff", boxShadow: "0 8px 28px rgba(0,0,0,.25)",
      });
      frame.style[side] = "20px";
      document.body.appendChild(frame);
    }
    frame.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.textContent = "Close chat";
  }
  function close() {
    if (frame) frame.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.textContent = label;
    button.focus();
  }
  button.addEventListener("click", function () {
    if (frame && !frame.hidden) close(); else open();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && frame && !frame.hidden) close();
  });

  function place() { document.body.appendChild(button); }
  if (document.body) place(); else document.addEventListener("DOMContentLoaded", place);
})();
