"""The errors of `tinyml ota`, under the package's one error root."""
from tinyml_host.errors import TinymlError


class OtaError(TinymlError):
    """An update that cannot be made, sent or installed; the message says why and what to do."""


class Refused(OtaError):
    """The board refused the update (or rolled it back); reason is what the board recorded."""
    exit_status = 1  # `tinyml ota push` exits 1 on a refusal, 2 on any other error

    def __init__(self, reason):
        super().__init__("the board refused the update: %s" % reason,
                         fix="see `tinyml ota status --board B`; the board still runs its previous model")
        self.reason = reason
