from tests.mail.support import mail_env

__all__ = ["mail_env"]
