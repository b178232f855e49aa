/* An app's API explorer: Swagger UI over the app's api.yml. The app's paths name its
   scripts (/top.js/flows/json), so requests are sent under /app/<name>/scripts. */
window.addEventListener('load', function () {
  'use strict';
  var base = window.location.pathname.replace(/\/api\/?$/, '');
  window.ui = SwaggerUIBundle({
    url: 'api.yml', dom_id: '#swagger-ui', validatorUrl: null,
    requestInterceptor: function (req) {
      var origin = window.location.origin;
      if (req.url.indexOf(origin + '/') === 0 && !/\/api\.yml$/.test(req.url) &&
          req.url.indexOf(origin + base + '/') !== 0) {
        req.url = origin + base + '/scripts' + req.url.substring(origin.length);
      }
      return req;
    }
  });
});
