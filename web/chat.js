// Minimal chat over Rasa's REST channel. Text is always inserted as text, never as HTML.
(function () {
  const api = (window.CHAT_API || "http://127.0.0.1:5005") + "/webhooks/rest/webhook";
  let sender = sessionStorage.getItem("chat-sender");
  if (!sender) {
    sender = "web-" + crypto.getRandomValues(new Uint32Array(4)).join("-");
    sessionStorage.setItem("chat-sender", sender);
  }
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("message");
  const typing = document.getElementById("typing");

  function add(role, text, buttons) {
    const li = document.createElement("li");
    li.className = role;
    li.textContent = text || "";
    if (buttons && buttons.length) {
      const box = document.createElement("div");
      box.className = "buttons";
      for (const b of buttons) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.addEventListener("click", () => send(b.payload, b.title));
        box.appendChild(btn);
      }
      li.appendChild(box);
    }
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  async function send(text, shown) {
    add("user", shown || text);
    typing.hidden = false;
    try {
      const res = await fetch(api, { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify({ sender, message: text }) });
      const replies = await res.json();
      for (const r of replies) add("bot", r.text, r.buttons);
    } catch (e) {
      add("bot", "Sorry, I can't reach the assistant right now. Please call the clinic.");
    } finally {
      typing.hidden = true;
      input.focus();
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
})();
