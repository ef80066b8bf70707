// The clinic's chat widget. Embed with:
//   <script src="https://ASSISTANT/webhooks/webchat/static/vendor/socket.io.min.js"></script>
//   <script src="https://ASSISTANT/webhooks/webchat/static/widget.js"></script>
// Everything from the bot or the user is inserted as text (textContent), never as HTML;
// links are built as elements and only for http(s) URLs.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src, location.href);
  var server = base.origin;
  var prefix = base.pathname.replace(/\/static\/widget\.js$/, "");
  var TOKEN_KEY = "clinic-chat-token";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var launcher = el("button", { "class": "cw-launcher", type: "button", "aria-expanded": "false",
                                "aria-controls": "cw-panel" }, "Chat with us");
  var panel = el("section", { "class": "cw-panel", id: "cw-panel", role: "dialog",
                              "aria-labelledby": "cw-title", hidden: "" });
  var head = el("div", { "class": "cw-head" });
  var close = el("button", { type: "button", "class": "cw-close", "aria-label": "Close chat" }, "\u00d7");
  head.appendChild(close);
  head.appendChild(el("h2", { id: "cw-title" }, "Clinic assistant"));
  head.appendChild(el("p", {}, "Automated assistant - not medical advice. In an emergency, call your local emergency number."));
  var log = el("ol", { "class": "cw-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  var typing = el("p", { "class": "cw-typing", "aria-live": "polite", hidden: "" }, "The assistant is typing...");
  var form = el("form", { "class": "cw-form" });
  var label = el("label", { "for": "cw-input", "class": "cw-sr" }, "Your message");
  var input = el("input", { id: "cw-input", type: "text", autocomplete: "off", maxlength: "2000",
                            placeholder: "Type your question" });
  var send = el("button", { type: "submit" }, "Send");
  form.appendChild(label); form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(typing); panel.appendChild(form);
  document.body.appendChild(launcher); document.body.appendChild(panel);

  function linkified(parent, text) {
    var re = /https?:\/\/[^\s<>"']+/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el("a", { href: m[0], target: "_blank", rel: "noopener noreferrer" }, m[0]);
      parent.appendChild(a);
      last = m.index + m[0].length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function disableOldReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".cw-replies button"), function (b) { b.disabled = true; });
  }

  function add(from, text, replies) {
    var li = el("li", { "class": "cw-msg " + (from === "user" ? "cw-user" : "cw-bot") });
    var who = el("span", { "class": "cw-sr" }, from === "user" ? "You said: " : "Assistant: ");
    li.appendChild(who);
    linkified(li, text || "");
    if (replies && replies.length) {
      var box = el("div", { "class": "cw-replies", role: "group", "aria-label": "Suggested replies" });
      replies.forEach(function (r) {
        var b = el("button", { type: "button" }, r.title);
        b.addEventListener("click", function () { sendMessage(r.payload, r.title); });
        box.appendChild(b);
      });
      li.appendChild(box);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  var socket = null, typingTimer = null, started = false;
  function setTyping(on) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, 30000);
  }

  // Messages typed before the conversation's history has arrived (first connection or a
  // reconnect) wait here: the history replaces the log, so sending earlier would either lose
  // the message from view or race it past the server's record of the conversation.
  var ready = false, pending = [];
  function sendMessage(payload, shown) {
    if (!payload) return;
    disableOldReplies();
    add("user", shown || payload);
    setTyping(true);
    if (ready && socket && socket.connected) socket.emit("user_uttered", { message: payload });
    else pending.push({ payload: payload, shown: shown || payload });
    input.focus();
  }

  // Said once per outage, not on every automatic retry.
  var toldUnreachable = false;
  function unreachable() {
    if (toldUnreachable) return;
    toldUnreachable = true;
    setTyping(false);
    add("bot", "Sorry, I can't reach the assistant right now. Your message will be sent when the connection is back. If it is urgent, please call the clinic.");
  }

  function connect() {
    fetch(server + prefix + "/session", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: localStorage.getItem(TOKEN_KEY) }) })
      .then(function (r) { if (!r.ok) throw new Error("session " + r.status); return r.json(); })
      .then(function (s) {
        localStorage.setItem(TOKEN_KEY, s.token);
        socket = io(server, { path: "/socket.io", auth: { token: s.token }, transports: ["websocket", "polling"] });
        var historyTimer = null;
        socket.on("connect", function () {
          ready = false; toldUnreachable = false; socket.emit("history_request");
          // No history in 10 s: send what waits anyway rather than hold it forever.
          clearTimeout(historyTimer);
          historyTimer = setTimeout(function () { onHistory({ unavailable: true }); }, 10000);
        });
        socket.on("disconnect", function () { ready = false; });
        function onHistory(h) {
          clearTimeout(historyTimer);
          if (ready) return;  // already handled (late history after the timeout)
          if (!h.unavailable) {  // the server could not read the history: keep what is shown
            log.textContent = "";
            (h.messages || []).forEach(function (m) { add(m.from, m.text, m.quick_replies); });
          }
          var queued = pending; pending = [];
          queued.forEach(function (q) {
            if (!h.unavailable) add("user", q.shown);  // the log was re-rendered without it
            socket.emit("user_uttered", { message: q.payload });
          });
          ready = true;
        }
        socket.on("history", onHistory);
        socket.on("bot_uttered", function (m) {
          add("bot", m.text, m.quick_replies);
          setTyping(true);  // more messages may follow: hide shortly after the last one
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { typing.hidden = true; }, 700);
        });
        socket.on("connect_error", function () { unreachable(); });
        // The patient deleted this conversation: its token is revoked. Start a new one, and
        // send there what the server refused, so nothing typed is lost.
        socket.on("session_ended", function (m) {
          ready = false;
          if (m && m.message) pending.push({ payload: m.message, shown: m.message });
          localStorage.removeItem(TOKEN_KEY);
          var old = socket; socket = null;
          old.off(); old.disconnect();
          connect();
        });
      })
      .catch(function () { socket = null; unreachable(); setTimeout(connect, 5000); });
  }

  function toggle(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { if (!started) { started = true; connect(); } input.focus(); } else { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { toggle(panel.hidden); });
  close.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    sendMessage(text);
  });
  if (script.getAttribute("data-open") === "true") toggle(true);
})();
