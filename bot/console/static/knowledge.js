// The knowledge editor's live preview: as staff type, the server checks the entry with the
// loader's rules (POST /knowledge/preview) and returns the answer exactly as the patient
// will see it; each problem is shown under its field. Everything is inserted as text.
(function () {
  "use strict";
  var form = document.querySelector("form.kb-form");
  if (!form) return;
  var bubble = document.getElementById("preview-answer");
  var chip = document.getElementById("preview-title-chip");
  var words = document.getElementById("answer-words");
  var timer = null, sent = 0;

  function show(result) {
    bubble.textContent = result.answer;
    chip.textContent = result.title;
    words.textContent = result.words + " words (40-120)";
    var slots = form.querySelectorAll(".problems[data-field]");
    Array.prototype.forEach.call(slots, function (slot) {
      var field = slot.getAttribute("data-field");
      var found = result.problems[field] || [];
      slot.textContent = "";
      found.forEach(function (message) {
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = message;
        slot.appendChild(p);
      });
      var input = form.querySelector("[aria-describedby~='" + field + "-problems']");
      if (input) {
        if (found.length) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      }
    });
  }

  function check() {
    var data = new URLSearchParams(new FormData(form));
    data.delete("action");
    if (form.getAttribute("data-new") === "yes") data.set("new", "yes");
    else data.set("entry_id", form.getAttribute("data-entry"));
    var mine = ++sent;
    fetch("/knowledge/preview", { method: "POST", credentials: "same-origin", body: data })
      .then(function (r) {
        if (r.status === 401) { location.href = "/login"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (result) { if (result && mine === sent) show(result); })
      .catch(function () {});
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  words.textContent = (bubble.textContent.trim() ? bubble.textContent.trim().split(/\s+/).length : 0) + " words (40-120)";
})();
