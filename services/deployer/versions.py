"""An app's compose file and .env as versions: read (with hand edits on disk shown), edited,
rolled back, and compared. A new version is written to state in one call, which also refuses an
edit based on a version that is no longer current; deployed, it goes to the worker, else its
files are written to the app's folder at once."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import InvalidArgument, PermissionDenied
from services.deployer import compose, drift, envfile
from services.deployer.apps import Apps


def env_for(role: str, text: str) -> str:
    """The .env as a caller of `role` may read it: a viewer gets the names and never the values."""
    return envfile.mask(text, every_value=True) if role == "viewer" else text


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class Edit:
    """An edit of the app's files, made on the version its If-Match names."""

    compose: str
    env: str
    message: str
    if_match: str
    overwrite_drift: bool
    deploy: bool

    @classmethod
    def from_pb(cls, request: apps_pb2.UpdateComposeRequest) -> Edit:
        files = request.files
        return cls(
            compose=files.compose, env=files.env, message=files.message or "edit", if_match=request.if_match,
            overwrite_drift=request.overwrite_drift, deploy=request.deploy,
        )  # fmt: skip


@dataclass(frozen=True)
class Versions:
    apps: Apps

    def _record(self, app: str) -> state_pb2.AppRecord:
        record: state_pb2.AppRecord = self.apps.state.stub.GetApp(state_pb2.StateGetAppRequest(name=app))
        return record

    def _hand_edits(self, app: str, current: drift.Files) -> drift.Files | None:
        folder = self.apps.settings.apps_dir / app
        return drift.hand_edits(state=self.apps.state, folder=folder, app=app, current=current)

    def get(self, app: str, number: int) -> apps_pb2.ConfigVersion:
        if number <= 0:
            raise InvalidArgument("version numbers start at 1")
        version: apps_pb2.ConfigVersion = self.apps.state.stub.GetVersion(
            apps_pb2.GetVersionRequest(app=app, number=number)
        )
        return version

    def compose_files(self, *, app: str, role: str) -> apps_pb2.ComposeFiles:
        """The current version's files with their ETag, and the files on disk if edited by hand."""
        record = self._record(app)
        current: apps_pb2.ConfigVersion = self.apps.state.stub.GetVersion(
            apps_pb2.GetVersionRequest(app=app, number=record.app.current_version)
        )
        reply = apps_pb2.ComposeFiles(
            app=app, version=current.number, compose=current.compose, env=env_for(role, current.env),
            hash=current.hash,  # keyed by state: no guess checks
            etag=drift.etag(current.number, current.hash), env_masked=role == "viewer",
        )  # fmt: skip
        disk = self._hand_edits(app, (current.compose, current.env))
        if disk is not None:
            reply.drift = True
            reply.disk_compose = disk[0]
            reply.disk_env = env_for(role, disk[1])
        return reply

    def save_edit(self, *, app: str, edit: Edit, actor: str) -> apps_pb2.VersionReply:
        """A new version from an edit of the current one; deployed at once when asked."""
        record = self._record(app)
        current = record.app.current_version
        drift.refuse_stale(app=app, current=current, if_match=edit.if_match)
        if not edit.compose.strip():
            raise InvalidArgument("files.compose is required")
        if (edit.compose, edit.env) == (record.compose, record.env):
            raise InvalidArgument(f"nothing to change: the edit is identical to v{current}")
        disk = self._hand_edits(app, (record.compose, record.env))
        drift.refuse_unadopted(
            app=app, current=current, disk=disk, edit=(edit.compose, edit.env), overwrite=edit.overwrite_drift
        )
        allowed = list(record.app.policy_exceptions)
        self.apps.check_version(
            app, edit.compose, edit.env, allowed, deploy=edit.deploy, server=record.app.server
        )
        return self._store(
            app, edit.compose, edit.env, author=actor, message=edit.message, source="edit",
            expected=current, deploy=edit.deploy,
        )  # fmt: skip

    def rollback(self, *, app: str, number: int, message: str, actor: str) -> apps_pb2.VersionReply:
        """An earlier version as a new one, deployed at once."""
        record = self._record(app)
        target = self.get(app, number)
        allowed = list(record.app.policy_exceptions)
        self.apps.check_version(
            app, target.compose, target.env, allowed, deploy=True, server=record.app.server
        )
        return self._store(
            app, target.compose, target.env, author=actor,
            message=message or f"rollback to v{target.number}", source="rollback",
            expected=record.app.current_version, deploy=True, rollback_to=target.number,
        )  # fmt: skip

    def update(
        self, *, app: str, compose_text: str, env_text: str, message: str, expected: int, actor: str,
        options: dict[str, object],
    ) -> apps_pb2.VersionReply:  # fmt: skip
        """An update's new version (`updates/start.py` made its files), checked as any version that is
        deployed at once, stored with its `update` deployment, queued. No If-Match: like a rollback,
        it is made from the current version (`expected`), and refused if the app moved on since."""
        record = self._record(app)
        allowed = list(record.app.policy_exceptions)
        self.apps.check_version(app, compose_text, env_text, allowed, deploy=True, server=record.app.server)
        return self._store(
            app, compose_text, env_text, author=actor, message=message, source="update",
            expected=expected, deploy=True, options=options,
        )  # fmt: skip

    def _store(
        self, app: str, compose_text: str, env_text: str, *, author: str, message: str, source: str,
        expected: int, deploy: bool, rollback_to: int = 0, options: dict[str, object] | None = None,
    ) -> apps_pb2.VersionReply:  # fmt: skip
        self.apps.refuse_while_restoring()
        reply: apps_pb2.VersionReply = self.apps.state.stub.CreateVersion(
            state_pb2.StateCreateVersionRequest(
                app=app,
                compose=compose_text,
                env=env_text,
                author=author,
                message=message,
                source=source,
                expected_version=expected,
                deploy=deploy,
                rollback_to=rollback_to,
                options_json=json.dumps(options or {}),
            ),  # fmt: skip
        )
        if deploy:
            self.apps.queue(state_pb2.StateAppDeployment(app=reply.app, deployment=reply.deployment))
        else:
            compose.write_files(self.apps.settings.apps_dir / app, compose_text, env_text)
        return reply

    def diff(self, *, app: str, number: int, against: int, role: str, reveal: bool) -> apps_pb2.VersionDiff:
        """Version `number` against `against` (default: the one before); .env values masked unless
        an admin asks to see them (a viewer sees names only)."""
        new = self.get(app, number)
        against = against or number - 1
        if against < 0:
            raise InvalidArgument("against must be a version number")
        old = self.get(app, against) if against > 0 else apps_pb2.ConfigVersion(number=0)
        if reveal and role != "admin":
            raise PermissionDenied("only an admin can see secrets in a diff")
        old_env, new_env = (old.env, new.env)
        if not reveal:  # a viewer sees the names only; others, all but secret-looking values
            old_env, new_env = (envfile.mask(e, every_value=role == "viewer") for e in (old.env, new.env))
        return apps_pb2.VersionDiff(
            from_version=old.number,
            to_version=new.number,
            compose_diff=unified(
                old.compose, new.compose, f"v{old.number}/compose.yaml", f"v{new.number}/compose.yaml"
            ),
            env_diff=unified(old_env, new_env, f"v{old.number}/.env", f"v{new.number}/.env"),
        )
