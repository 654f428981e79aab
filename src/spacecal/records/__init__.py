"""Record definitions in the Nexudus shapes: specs, fields, their error shape and
row -> record. The records API (api/) and outgoing webhooks (outbound/) both read them."""
