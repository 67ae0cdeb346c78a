"""What each role reads of an .env: viewers the names only, others all but secret-looking values in
diffs, admins everything when they ask."""

from __future__ import annotations

from services.deployer import envfile
from services.deployer.versions import env_for

ENV = (
    "DATABASE_URL=postgres://app:S3cretPw@db/app\n"
    "MYAPP_ADMIN_PW=letmein\n"
    "export DB_PASSWORD=sunshine7\n"
    "\n"
    "# the old password was hunter2\n"
    "not a variable line with a value\n"
)


def test_a_viewer_gets_every_name_and_no_value() -> None:
    shown = env_for("viewer", ENV)
    assert shown == ("DATABASE_URL=********\nMYAPP_ADMIN_PW=********\nDB_PASSWORD=********\n\n#\n********\n")
    for value in ("S3cretPw", "letmein", "sunshine7", "hunter2", "variable"):
        assert value not in shown


def test_operators_and_admins_read_the_file_and_diffs_mask_secret_looking_keys() -> None:
    assert env_for("operator", ENV) == ENV and env_for("admin", ENV) == ENV
    masked = envfile.mask(ENV)
    assert "DB_PASSWORD=********" in masked and "sunshine7" not in masked
    assert "DATABASE_URL=postgres://app:S3cretPw@db/app" in masked  # as before: not a secret-looking key
