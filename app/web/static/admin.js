// Progressive enhancement for the admin pages: live progress without reloading the page.
// Without JavaScript the progress page refreshes itself every 2 seconds (<noscript> meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var initialStatus = box.querySelector("[data-field=status]").textContent.trim();
  var format = new Intl.NumberFormat("en-US");

  function show(data) {
    var counts = data.counts;
    Object.keys(counts).forEach(function (state) {
      var cell = box.querySelector('[data-count="' + state + '"]');
      if (cell) { cell.textContent = format.format(counts[state]); }
    });
    box.querySelector(".fill").style.width = data.percent + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", String(data.percent));
    box.querySelector("[data-field=summary]").textContent = data.summary;
    var reason = box.querySelector("[data-field=pause_reason]");
    reason.hidden = !data.pause_reason;
    reason.textContent = data.pause_reason ? "Paused: " + data.pause_reason : "";
    box.querySelector("[data-field=done-links]").hidden = !data.finished;
    if (data.status !== initialStatus) {
      // Another status means other buttons (pause/resume/cancel): let the server draw them.
      window.location.reload();
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        show(data);
        if (!data.finished) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  if (initialStatus !== "sent" && initialStatus !== "cancelled") { window.setTimeout(poll, 1000); }
}());
