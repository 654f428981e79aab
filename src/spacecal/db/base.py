"""The declarative base and the timestamp type every table module shares."""

from __future__ import annotations

from sqlalchemy import DateTime
from sqlalchemy.orm import DeclarativeBase

TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass
