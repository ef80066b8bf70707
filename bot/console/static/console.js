// Polls the queue summary and says when new escalations arrive (no patient data involved).
(function () {
  "use strict";
  var table = document.querySelector("table.queue");
  var notice = document.getElementById("new-count");
  if (!table || !notice) return;
  var newest = parseInt(table.getAttribute("data-newest") || "0", 10);
  function poll() {
    fetch("/api/queue", { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { location.href = "/login"; return null; }
      return r.json();
    }).then(function (s) {
      if (!s) return;
      var fresh = s.newest_id - newest;
      if (fresh > 0) {
        notice.hidden = false;
        notice.textContent = fresh + " new escalation" + (fresh > 1 ? "s" : "") + " - reloading the queue";
        setTimeout(function () { location.reload(); }, 1500);
      }
    }).catch(function () {});
  }
  setInterval(poll, 5000);
})();
