"""`spacecal mail` and `serve --smtp` refuse to start without what they need, saying
which setting to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacecal.cli.main import build_parser, main


def test_mail_needs_the_domain_and_the_listen_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPACECAL_MAIL_DOMAIN", raising=False)
    monkeypatch.delenv("SPACECAL_SMTP_LISTEN", raising=False)
    with pytest.raises(SystemExit, match="SPACECAL_MAIL_DOMAIN"):
        main(["mail", "--data-dir", str(tmp_path)])
    monkeypatch.setenv("SPACECAL_MAIL_DOMAIN", "book.example.com")
    monkeypatch.setenv("SPACECAL_SMTP_LISTEN", "port-25")
    with pytest.raises(SystemExit, match="write host:port"):
        main(["mail", "--data-dir", str(tmp_path)])
    monkeypatch.setenv("SPACECAL_SMTP_LISTEN", "127.0.0.1:2525")
    monkeypatch.setenv("SPACECAL_SMTP_TLS_CERT", str(tmp_path / "cert.pem"))
    with pytest.raises(SystemExit, match="SPACECAL_SMTP_TLS_KEY"):
        main(["mail", "--data-dir", str(tmp_path)])
    # serve writes its host and port into the environment: restored after the test.
    monkeypatch.setenv("SPACECAL_HOST", "127.0.0.1")
    monkeypatch.setenv("SPACECAL_PORT", "8000")
    with pytest.raises(SystemExit, match="SPACECAL_SMTP_TLS_KEY"):
        main(["serve", "--smtp", "--data-dir", str(tmp_path)])


def test_serve_takes_smtp() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--smtp"]).smtp is True
    assert parser.parse_args(["serve"]).smtp is False
