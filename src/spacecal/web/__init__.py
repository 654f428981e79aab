"""What the web parts (api/, portal/, admin/, the webhook intake) share: the services
object, error envelopes and handlers, password and token auth with the login limiter,
sessions and CSRF, and the trace middleware."""
