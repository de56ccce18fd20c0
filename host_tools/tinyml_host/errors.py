"""The one error root of tinyml. Every error a user meets is a TinymlError: its message says what
went wrong (the cause) and what to do about it (the fix); the `tinyml` command prints it and exits 2
(cli/main.py), any other exception is a bug. Each room names its own errors under this root."""


class TinymlError(Exception):
    """An error with a cause and a fix: TinymlError(cause, fix=...). str() gives both."""

    def __init__(self, cause="", fix=None):
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def __str__(self):
        text = super().__str__()
        return "%s\n  fix: %s" % (text, self.fix) if self.fix else text


class BoardError(TinymlError):
    """A board that cannot be used as asked: an unknown or bad profile, a link that fails, a board
    that answers wrongly, the unix port missing or stopping."""


class ModelError(TinymlError):
    """A model file tinyml cannot take (not TFLite, not int8, an op it does not run...)."""
