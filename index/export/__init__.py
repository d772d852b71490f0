"""Output: the gallery as CSV, JSON or HTML tables, XMP face regions beside the photos, thumbnails."""
