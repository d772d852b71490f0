"""Errors that the CLI turns into one-line messages instead of tracebacks."""


class FacesimError(Exception):
    """A problem the user can act on; its message is shown as is."""


class ImageError(FacesimError):
    """A file that cannot be read as a photo (missing, not an image, truncated, too large)."""


class NoFaceError(FacesimError):
    """A readable photo in which no face was found."""
