// cdn-edge demo script: proves the script was served and executed.
(function () {
  "use strict";
  var status = document.getElementById("status");
  if (status) {
    status.textContent = "Script loaded from " + (document.currentScript ? document.currentScript.src : "cdn-edge") + ".";
  }
})();
