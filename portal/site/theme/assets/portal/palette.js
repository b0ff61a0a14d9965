/* Runs in the header, as the theme's inline script did: apply the colour palette the reader
   chose last (kept by the theme under "__palette"); "follow the system" picks the matching
   option of the palette toggle. */
(function () {
  "use strict";
  var saved = window.__md_get ? window.__md_get("__palette") : null;
  if (!saved || !saved.color) return;
  var color = saved.color;
  if (color.media === "(prefers-color-scheme)") {
    var light = window.matchMedia("(prefers-color-scheme: light)").matches;
    var wanted = light ? "(prefers-color-scheme: light)" : "(prefers-color-scheme: dark)";
    var option = document.querySelector('[data-md-color-media="' + wanted + '"]');
    if (option) {
      ["media", "scheme", "primary", "accent"].forEach(function (key) {
        color[key] = option.getAttribute("data-md-color-" + key);
      });
    }
  }
  Object.keys(color).forEach(function (key) {
    document.body.setAttribute("data-md-color-" + key, color[key]);
  });
})();
