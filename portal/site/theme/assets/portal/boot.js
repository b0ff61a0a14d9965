/* The helpers mkdocs-material's bundle expects as globals, defined in a file rather than
   inline so that the site's Content-Security-Policy can forbid inline scripts.
   Preferences (palette, open tabs) are kept in localStorage under the site's path. */
(function () {
  "use strict";
  // this file is <site>/assets/portal/boot.js: the site's root is two folders up
  var scope = new URL("../../", document.currentScript.src);

  function hash(text) {
    var value = 0;
    for (var i = 0; i < text.length; i++) {
      value = ((value << 5) - value + text.charCodeAt(i)) | 0;
    }
    return value;
  }

  function get(key, storage, base) {
    storage = storage || localStorage;
    base = base || scope;
    return JSON.parse(storage.getItem(base.pathname + "." + key));
  }

  function set(key, value, storage, base) {
    storage = storage || localStorage;
    base = base || scope;
    try {
      storage.setItem(base.pathname + "." + key, JSON.stringify(value));
    } catch (error) {
      // storage full or forbidden (a file:// page in some browsers): preferences are not kept
    }
  }

  window.__md_scope = scope;
  window.__md_hash = hash;
  window.__md_get = get;
  window.__md_set = set;
})();
