"""The face gallery: photos and faces in SQLite, their vectors in FAISS.

Import the modules directly (`index.gallery`, `index.indexer`, `index.search`, ...). This file
imports nothing, so that read-only commands such as `facesim info` never pay for the encoder.
"""
