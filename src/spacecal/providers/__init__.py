"""Provider adapters behind one interface (base.py): Google Calendar v3 and Microsoft
Graph v1.0. Providers import nothing from spacecal.sync."""
