"""Clustering: the graph of near faces, the linkages that cut it into persons, their metrics and calibration."""
