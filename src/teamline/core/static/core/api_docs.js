// The API docs page (/api/v1/docs): starts Swagger UI (swagger-ui-dist, served from this
// installation) with the settings the page carries as JSON data, so no inline script is needed
// under the Content-Security-Policy. A signed-in desk session's "Try it out" sends the CSRF
// token Django checks for cookie authentication.
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrfToken = document.body.dataset.csrfToken;
  settings.dom_id = "#swagger-ui";
  settings.presets = [window.SwaggerUIBundle.presets.apis];
  settings.layout = "BaseLayout";
  if (csrfToken) {
    settings.requestInterceptor = function (request) {
      request.headers["X-CSRFToken"] = csrfToken;
      return request;
    };
  }
  window.SwaggerUIBundle(settings);
})();
