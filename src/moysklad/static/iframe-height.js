// МойСклад shows our settings in an iframe of at least 768 px; to grow it, the page posts
// its height to the parent window (Vendor API, "main iframe").
(function () {
  var last = 0;
  function report() {
    var h = Math.ceil(document.documentElement.scrollHeight);
    if (h !== last && window.parent !== window) {
      last = h;
      window.parent.postMessage({ height: h }, "*");
    }
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.documentElement);
})();
