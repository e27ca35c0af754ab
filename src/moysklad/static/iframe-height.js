// МойСклад shows our pages in an iframe of at least 768 px; to fit it to the page, the page
// posts its height to the parent window (Vendor API, "main iframe"). The height is the
// content's, not documentElement.scrollHeight: that one never drops below the frame's
// current height, so after a long page (the settings) a short one (a cabinet page) would
// keep the frame long and empty.
(function () {
  var last = 0;
  function report() {
    var h = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (h !== last && window.parent !== window) {
      last = h;
      window.parent.postMessage({ height: h }, "*");
    }
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.documentElement);
})();
