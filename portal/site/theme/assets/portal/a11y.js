// Accessibility fixes to what the theme's script draws (checked by axe-core in the tests):
// - the <nav> of buttons (copy) on every code block is unnamed: several landmarks of one
//   role need distinct names (landmark-unique);
// - a table wider than a phone's screen scrolls in its wrapper, which must be reachable
//   by keyboard (scrollable-region-focusable).
(function () {
  "use strict";
  var named = 0;
  var tables = 0;
  var french = document.documentElement.lang === "fr";
  function fix(root) {
    root.querySelectorAll("nav.md-code__nav:not([aria-label])").forEach(function (nav) {
      named += 1;
      nav.setAttribute("aria-label", (french ? "Bloc de code " : "Code block ") + named);
    });
    // the row of content-tab labels scrolls sideways on a phone too
    root.querySelectorAll(".tabbed-labels:not([tabindex])").forEach(function (labels) {
      labels.setAttribute("tabindex", "0");
    });
    root.querySelectorAll(".md-typeset__scrollwrap:not([tabindex])").forEach(function (wrap) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      tables += 1;
      wrap.setAttribute("aria-label", (french ? "Tableau " : "Table ") + tables);
    });
  }
  new MutationObserver(function () { fix(document); })
    .observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { fix(document); });
})();
