"""Reproducible training, calibration and evaluation of the encoder on a folder-per-person set."""
