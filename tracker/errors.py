"""Exception hierarchy (leaf module: imports nothing from tracker)."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error raised by ami-tracker."""


class ProtocolError(TrackerError):
    """The AMI conversation broke a protocol rule."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something that is not valid AMI (e.g. CR/LF in a value)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot accept (e.g. no AMI banner)."""


class AuthenticationError(TrackerError):
    """Asterisk refused the login."""


class ConnectionLostError(TrackerError):
    """The AMI connection closed or failed."""


class ConnectTimeoutError(TrackerError):
    """No AMI session could be established (connected and logged in) in the time given."""


class ActionTimeoutError(TrackerError):
    """An action got no complete answer in time."""


class ActionError(TrackerError):
    """Asterisk answered an action with ``Response: Error``."""


class OverloadError(TrackerError):
    """A consumer fell so far behind that a bounded buffer overflowed."""


class StoreError(TrackerError):
    """The database could not be used."""
