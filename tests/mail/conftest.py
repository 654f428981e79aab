from tests.mail.intake_support import intake_env
from tests.mail.support import mail_env

__all__ = ["intake_env", "mail_env"]
