"""Security tests reuse the portal and sync environments (spacecal with both emulators
in-process): the same fixtures, imported so pytest registers them here too."""

from tests.api.conftest import clean, client, password_hash, quick_admin, quick_user  # noqa: F401
from tests.portal.conftest import env  # noqa: F401
from tests.sync.conftest import member_password_hash, sync_env  # noqa: F401
