"""The face gallery: photos and faces in SQLite, their vectors in FAISS.

The flow, one folder a phase:

    ingest/      scan a folder, detect and embed faces (in processes or on Ray)
        -> store/      the only owner of the data: SQLite tables (database), the FAISS
                       sidecar rebuilt from them (vectors), the write lock, the gallery
                       that opens all three
        -> clustering/ group faces into persons (the linkages, their shared cannot-link,
                       BCubed metrics and the calibration of the rule)
        -> persons/    stable person ids, names, and the user's corrections
        -> export/     CSV/JSON/HTML tables, XMP sidecars, thumbnails
    match/       the one-to-many rule a query meets a gallery with, its calibration, and
                 `match`'s answers
    search.py    a query face against the gallery (match, photos)
    doctor.py    checks and repairs a gallery (doctor_report.py: what `doctor` says)

What the other commands answer, as data the CLI renders as JSON or lines: overview.py (`info`),
photo_listing.py (`photos`), gallery_clusters.py (`clusters`: store, trial or join),
card_calibration.py (`calibrate`), ingest/report.py (`index`, `forget`), persons/correcting.py
(the corrections).

Import the modules directly (`index.store.gallery`, `index.ingest.indexer`, `index.search`, ...).
No package file imports anything, so that read-only commands such as `facesim info` never pay
for the encoder.
"""
