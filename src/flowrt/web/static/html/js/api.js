/* REST API explorer: Swagger UI over FlowRT's own OpenAPI document. */
window.addEventListener('load', function () {
  'use strict';
  window.ui = SwaggerUIBundle({url: '../api-docs', dom_id: '#swagger-ui', deepLinking: true,
    validatorUrl: null});
});
