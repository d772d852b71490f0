"""Ingestion: scan a folder, detect and embed its faces in worker processes or on Ray, record them in the store."""
