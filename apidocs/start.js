// Starts Swagger UI on the gateway's OpenAPI document (a file of its own: the page's Content
// Security Policy runs no inline script).
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  // No badge from the public validator: the page loads nothing from elsewhere.
  validatorUrl: null,
});
