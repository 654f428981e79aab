"""iMIP: booking by invitation. The SMTP receiver stores a message durably before
answering 250 (receiver.py); a job checks who sent it and what it asks
(invitations.py), books through the one booking write path, and replies from the
resource's address through the outgoing queue (outbox.py)."""
