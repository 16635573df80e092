// The console works without JavaScript; this only makes filters apply as
// soon as a select changes. No inline handlers: the CSP allows none.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
});
