"""Storage: the SQLite database (the source of truth), the FAISS sidecar rebuilt from it, the write lock."""
