/* Runs right after the page content, as the theme's inline scripts did: reopen the content
   tabs the reader chose last (feature content.tabs.link), and open the tab a link points to. */
(function () {
  "use strict";
  var chosen = window.__md_get ? window.__md_get("__tabs") : null;
  if (Array.isArray(chosen)) {
    document.querySelectorAll(".tabbed-set").forEach(function (set) {
      var labels = set.querySelector(".tabbed-labels");
      if (!labels) return;
      var all = Array.prototype.slice.call(labels.getElementsByTagName("label"));
      for (var i = 0; i < chosen.length; i++) {
        var match = all.find(function (label) {
          return label.innerText.trim() === chosen[i];
        });
        if (match) {
          var input = document.getElementById(match.htmlFor);
          if (input) input.checked = true;
          return;
        }
      }
    });
  }
  var target = document.getElementById(location.hash.slice(1));
  if (target && target.name) {
    target.checked = target.name.indexOf("__tabbed_") === 0;
  }
})();
