"""Emulators of the calendar providers spacecal talks to (Google, Microsoft).

They import nothing from the rest of spacecal, so they could be split out as their own
package: `common` is the shared layer (clock, seeded RNG, faults, logs, push delivery,
control API), `google` the Google Calendar v3 + OAuth emulator, `server` runs one as a
standalone HTTP server.
"""
