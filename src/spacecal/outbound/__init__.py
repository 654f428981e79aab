"""Outbound webhooks in the Nexudus convention (the WebHook record at /api/sys/webhooks).

Row triggers (migration 0008) defer one delivery job per active webhook of an action,
in the transaction of the change; the worker renders the record, signs the body and
POSTs it (delivery.py). Inbound provider notifications are spacecal.sync, not here.
"""
