"""facesim: index a photo folder by face, then match, verify and cluster people."""

__version__ = "0.1.0"
