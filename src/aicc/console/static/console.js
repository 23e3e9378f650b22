/* AICC operator console: small progressive enhancements. Every page works without it. */
(function () {
  "use strict";

  /* Ask before a form marked data-confirm is sent (ending a session, ...). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  /* Live parts of a page: the server sends each part as HTML it rendered (and escaped);
     it replaces the element marked data-live="<event name>". */
  var root = document.querySelector("[data-live-source]");
  if (!root || !("EventSource" in window)) {
    return;
  }
  var source = new EventSource(root.getAttribute("data-live-source"));
  var parts = document.querySelectorAll("[data-live]");
  Array.prototype.forEach.call(parts, function (part) {
    var name = part.getAttribute("data-live");
    source.addEventListener(name, function (event) {
      /* Keep the keyboard focus on a control the update replaces (found again by id). */
      var focused = document.activeElement;
      var focusId = focused && focused.id && part.contains(focused) ? focused.id : null;
      part.innerHTML = event.data;
      var again = focusId && document.getElementById(focusId);
      if (again) {
        again.focus();
      }
      if (name === "figures") {
        var seen = Number(root.getAttribute("data-live-events") || "0") + 1;
        root.setAttribute("data-live-events", String(seen));
      }
    });
  });
  source.addEventListener("signout", function (event) {
    source.close();
    var target = String(event.data || "/login");
    window.location.assign(target.charAt(0) === "/" && target.charAt(1) !== "/" ? target : "/login");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      /* Not an event stream (signed out, an error page): reload, which shows why. */
      window.setTimeout(function () { window.location.reload(); }, 10000);
    }
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
