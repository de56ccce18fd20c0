"""The errors of `tinyml ota` (under the package's one error root when it has one)."""
try:
    from tinyml_host.errors import TinymlError as _Root
except ImportError:  # the package's error root not there yet
    _Root = RuntimeError


class OtaError(_Root):
    """An update that cannot be made, sent or installed; the message says why and what to do."""


class Refused(OtaError):
    """The board refused the update; reason is what it recorded."""

    def __init__(self, reason):
        super().__init__("the board refused the update: %s" % reason)
        self.reason = reason
