// Mail previews (srcdoc iframes) take the height of the mail they show, so a phone sees all ten
// posts instead of the first three in a fixed box. The frames stay sandboxed with no scripts of
// their own; "allow-same-origin" only lets this page measure their document.
(function () {
  "use strict";
  var frames = Array.prototype.slice.call(document.querySelectorAll("iframe.mail"));
  if (!frames.length) { return; }

  function fit(frame) {
    var doc = frame.contentDocument;
    if (!doc || !doc.documentElement || !doc.body) { return; }
    // Shrink first: a document is never shorter than its frame, so a frame must start small
    // to learn that the mail became shorter (a wider window makes it so).
    frame.style.height = "1px";
    frame.style.height = (doc.documentElement.scrollHeight + 2) + "px";
  }

  function watch(frame) {
    fit(frame);
    var doc = frame.contentDocument;
    if (!doc) { return; }
    // Images arrive after the text and make the mail longer.
    Array.prototype.forEach.call(doc.images, function (image) {
      image.addEventListener("load", function () { fit(frame); });
    });
  }

  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { watch(frame); });
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") { watch(frame); }
  });
  var pending = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () { frames.forEach(fit); }, 150);
  });
}());
