// The download page's commands and links name the configured download base (params.yaml
// `site.downloads`). When that base is the local server (127.0.0.1 or localhost) and the
// page is served from another address (another port, or a server the organiser put in
// front), they are rewritten to follow the page's own address, so that a copied command
// works where the reader is. A published site (any other base) is left as written.
(function () {
  "use strict";
  function rewrite() {
    var marker = document.querySelector(".portal-downloads");
    if (!marker || !/^https?:$/.test(location.protocol)) return;
    var site = new URL(marker.getAttribute("data-site"));
    var configured = marker.getAttribute("data-downloads");
    var local = site.hostname === "127.0.0.1" || site.hostname === "localhost";
    if (!local || !configured.startsWith(site.href)) return;
    var root = new URL(".", document.querySelector("link[rel=stylesheet][href*='assets/portal/portal.css']").href);
    root = new URL("../../", root); // assets/portal/ -> the site's root
    var actual = root.href + configured.slice(site.href.length);
    if (actual === configured) return;
    document.querySelectorAll("a[href^='" + configured + "']").forEach(function (a) {
      a.href = actual + a.getAttribute("href").slice(configured.length);
    });
    document.querySelectorAll("pre code").forEach(function (block) {
      var walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
      var node;
      while ((node = walker.nextNode())) {
        if (node.nodeValue.indexOf(configured) >= 0) {
          node.nodeValue = node.nodeValue.split(configured).join(actual);
        }
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rewrite);
  } else {
    rewrite();
  }
})();
