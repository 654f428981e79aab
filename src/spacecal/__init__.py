"""spacecal: calendar sync for coworking spaces."""

__version__ = "0.1.0"
