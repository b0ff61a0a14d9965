// The theme adds a <nav> of buttons (copy) to every code block, all unnamed: several
// landmarks of one role without names confuse screen-reader navigation (axe:
// landmark-unique). They are button groups, not navigation: say so, and name each.
(function () {
  "use strict";
  function fix(root) {
    root.querySelectorAll("nav.md-code__nav:not([data-portal-named])").forEach(function (nav, i) {
      nav.setAttribute("role", "group");
      nav.setAttribute("aria-label", "Code block " + (i + 1));
      nav.setAttribute("data-portal-named", "");
    });
  }
  new MutationObserver(function () { fix(document); })
    .observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { fix(document); });
})();
