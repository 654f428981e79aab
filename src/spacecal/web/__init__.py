"""What the web parts (api/, portal/, admin/, the webhook intake) share: the services
object, error envelopes and handlers, password and token auth with the sign-in limiter
and password-check gate, sessions and CSRF, and the trace middleware."""
